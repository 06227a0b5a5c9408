import Testing
@testable import INIFormat

import Testing
@testable import ZGenCore

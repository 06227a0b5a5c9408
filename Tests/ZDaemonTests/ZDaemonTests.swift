import Testing
@testable import ZDaemon

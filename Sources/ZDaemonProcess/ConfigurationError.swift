import ZDaemon
import INIFormat

/// A problem with a daemon's configuration (file, environment or command line): the process
/// reports it as one line on stderr and exits with 78 (`EX_CONFIG`).
///
/// Its description follows the compiler's diagnostic format when a file position is known:
/// `my_zmq.ini:23:9: error: [handler_console] class: unknown handler class 'Foo'`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is: `path:line:column`, `path`, `environment variable NAME` or `--set ...`.
    public var origin: String
    /// What is wrong.
    public var message: String

    /// Creates an error at an explicit origin.
    public init(origin: String, message: String) {
        self.origin = origin
        self.message = message
    }

    /// Creates an error at a position in the file `path`.
    public init(path: String, position: SourcePosition?, message: String) {
        if let position {
            self.origin = "\(path):\(position.line):\(position.column)"
        } else {
            self.origin = path
        }
        self.message = message
    }

    /// `origin: error: message`.
    public var description: String { "\(origin): error: \(message)" }
}

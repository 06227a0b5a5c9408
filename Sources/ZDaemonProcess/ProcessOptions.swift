import ZDaemon
import ArgumentParser

/// The command-line options every daemon process understands (the seed's `script_main`).
/// Include them in an executable's command with `@OptionGroup var process: ProcessOptions`,
/// next to the options the executable's daemons declare for themselves.
public struct ProcessOptions: ParsableArguments, Sendable {
    /// `-c/--config PATH`: the INI file (required).
    @Option(name: .shortAndLong, help: ArgumentHelp("The INI configuration file (logging, [app:…] settings, [run:…] overrides).", valueName: "path"))
    public var config: String

    /// `-t/--title TITLE`: the process title, used as `%(processName)s` and as the OS process name.
    @Option(name: .shortAndLong, help: ArgumentHelp("The process title: %(processName)s in log lines and the name ps/top show (first 15 bytes).", valueName: "title"))
    public var title: String?

    /// `-l/--log-handler NAME`: the logger (by qualname) the daemon logs through.
    @Option(name: [.customShort("l"), .customLong("log-handler")], help: ArgumentHelp("The configured logger (qualname, or root) the daemon logs through.", valueName: "name"))
    public var logHandler: String = "root"

    /// `--blocking-log-threshold SECONDS`: warn when the loop is blocked longer (0 = off).
    @Option(name: .customLong("blocking-log-threshold"), help: ArgumentHelp("Log a warning when a handler or timer blocks the loop longer than this (0 = off).", valueName: "seconds"))
    public var blockingLogThreshold: Double = 5

    /// `--shutdown-timeout SECONDS`: how long terminating may spend on queued input and the
    /// will-terminate hooks (``DaemonConfiguration/shutdownTimeout``); then the rest is dropped
    /// (exit 75), and a daemon still not finished after it, the linger and 2 s more is ended.
    @Option(name: .customLong("shutdown-timeout"), help: ArgumentHelp("At terminate, handle queued input for at most this long, then drop the rest (exit 75); a daemon still running a handler after this plus the linger plus 2 s is ended (exit 75).", valueName: "seconds"))
    public var shutdownTimeout: Double = 5

    /// `--socket-events`: observe every channel's socket events (logged, counted, passed to the
    /// generated `onSocketEvent` hook, live connections in the SIGUSR1 dump). Off by default:
    /// it costs a monitor socket and a poll item per channel.
    @Flag(name: .customLong("socket-events"), help: ArgumentHelp("Observe every channel's connects, disconnects and handshake failures (logged, counted, onSocketEvent hook, live connections in the SIGUSR1 dump); costs a monitor socket per channel."))
    public var socketEvents: Bool = false

    /// `--set Daemon.channel.key=value`: a channel override (repeatable); highest precedence.
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a channel setting, e.g. MyWorker.job.endpoint=tcp://host:9090 or control.endpoint=none (repeatable; beats environment and INI).", valueName: "Daemon.channel.key=value"))
    public var assignments: [String] = []

    /// `--daemon NAME`: run only this daemon, in this process (the launcher passes it to children).
    @Option(name: .customLong("daemon"), help: ArgumentHelp("Run only this daemon type in this process instead of launching all of them.", valueName: "name"))
    public var daemon: String?

    /// `--instance NAME`: which instance of the app this is. Each instance has its own default
    /// control endpoint (the default path with `.NAME` appended), and one launcher at a time may
    /// run an instance; `--send-control --instance NAME` reaches only that instance's daemons.
    @Option(name: .customLong("instance"), help: ArgumentHelp("Run (or, with --send-control, address) the app instance of this name: its own control endpoint, one launcher at a time. Letters, digits, '.', '_', '-'; at most 64.", valueName: "name"))
    public var instance: String?

    /// `--replica N`: the process number the launcher gave this child (titles `(app:name:N)`).
    @Option(name: .customLong("replica"), help: .hidden)
    public var replica: Int?

    /// `--restart on-failure|never`: the launcher's restart policy.
    @Option(name: .customLong("restart"), help: ArgumentHelp("Launcher restart policy for a child that fails: never or on-failure (backoff 0.5 s doubling to 30 s).", valueName: "policy"))
    public var restart: RestartPolicy = .never

    /// `--max-restarts N`: give up restarting a child after this many restarts.
    @Option(name: .customLong("max-restarts"), help: ArgumentHelp("With --restart on-failure: restarts per child before giving up.", valueName: "count"))
    public var maxRestarts: Int = 5

    /// `--stop-timeout SECONDS`: the launcher's deadline once the app's stop has begun (see
    /// ``Launcher``): half of it to end on their own, then SIGTERM, then SIGKILL at the deadline.
    @Option(name: .customLong("stop-timeout"), help: ArgumentHelp("Launcher: once the app's stop begins, children get half of this to end on their own, then SIGTERM, and SIGKILL at the deadline.", valueName: "seconds"))
    public var stopTimeout: Double = 10

    /// `--liveness-timeout SECONDS`: the launcher kills (SIGKILL) a child whose loop sent no
    /// heartbeat for this long, then applies the restart policy (0 = off).
    @Option(name: .customLong("liveness-timeout"), help: ArgumentHelp("Launcher: a child whose event loop sent no heartbeat (one a second) for this long is killed and handled as a crash (0 = off).", valueName: "seconds"))
    public var livenessTimeout: Double = 30

    /// `--send-control COMMAND`: broadcast a control command (e.g. TERM) to the app's daemons and exit.
    @Option(name: .customLong("send-control"), help: ArgumentHelp("Broadcast a control command (TERM) to the running daemons of this app and exit.", valueName: "command"))
    public var sendControl: String?

    /// `--expect N`: with `--send-control`, how many subscribed daemons to wait for.
    @Option(name: .customLong("expect"), help: ArgumentHelp("With --send-control: wait (up to 5 s) for this many daemons to be subscribed; default: all the launcher would start.", valueName: "count"))
    public var expect: Int?

    /// Creates the options with their defaults (ArgumentParser fills them from the command line).
    public init() {}

    /// Checks values ArgumentParser cannot check by type.
    public func validate() throws {
        guard blockingLogThreshold >= 0 else {
            throw ValidationError("--blocking-log-threshold must be 0 (off) or a positive number of seconds")
        }
        guard shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout must be 0 or a positive number of seconds") }
        guard stopTimeout > 0 else { throw ValidationError("--stop-timeout must be a positive number of seconds") }
        guard livenessTimeout >= 0 else { throw ValidationError("--liveness-timeout must be 0 (off) or a positive number of seconds") }
        guard maxRestarts >= 0 else { throw ValidationError("--max-restarts must not be negative") }
        if let expect, expect < 0 { throw ValidationError("--expect must not be negative") }
        if let instance, let problem = ControlSettings.problem(instance: instance) {
            throw ValidationError("--instance \(ControlChannel.escaped(instance)): \(problem)")
        }
    }
}

/// What the launcher does when a child fails.
public enum RestartPolicy: String, ExpressibleByArgument, Sendable, CaseIterable {
    /// Never restart; the launcher exits with the first failed child's status.
    case never
    /// Restart a child that exited non-zero or was killed, with exponential backoff.
    case onFailure = "on-failure"
}

import ZDaemon
import ZDaemonSecurity
import ArgumentParser
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import ZDaemonLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The exit statuses of a daemon process (BSD `sysexits.h`).
public enum ExitStatus {
    /// Success.
    public static let success: Int32 = 0
    /// Anything else that failed.
    public static let failure: Int32 = 1
    /// Bad command line (swift-argument-parser's own status).
    public static let usage: Int32 = 64
    /// A socket could not bind or connect (`EX_UNAVAILABLE`).
    public static let unavailable: Int32 = 69
    /// The daemon stopped, but messages may have been lost: a sending socket's linger ran out
    /// while its peer still had messages to take (`EX_IOERR`).
    public static let possiblyLost: Int32 = 74
    /// The shutdown deadline passed: queued input was dropped unhandled, or a handler that
    /// did not return was cut off by ending the process (`EX_TEMPFAIL`).
    public static let shutdownDeadline: Int32 = 75
    /// Bad configuration: file, INI syntax, logging sections, overrides (`EX_CONFIG`).
    public static let configuration: Int32 = 78
}

/// What a daemon's factory gets: the deployment configuration to create it with, and the
/// settings of its app.
public struct DaemonContext: Sendable {
    /// Pass this to the daemon's initializer: logger, title, watchdog, channel overrides.
    public var configuration: DaemonConfiguration
    /// The `[app:<app>]` settings.
    public var settings: AppSettings
    /// The process title.
    public var title: String
    /// The process number the launcher gave this process among those of its daemon type
    /// (1-based), if it starts more than one.
    public var replica: Int?
    /// The app instance's name (`--instance`), if one was given.
    public var instance: String?
}

/// One daemon type an executable can run: its spec, how many processes the launcher starts,
/// and how to create it (on its own thread).
public struct DaemonProgram: Sendable {
    /// The daemon's spec (its name selects it with `--daemon`).
    public var spec: DaemonSpec
    /// How many processes the launcher starts (titles get `:1`, `:2`, … when more than one).
    public var processes: Int
    /// What the launcher makes of one of its processes finishing well (exit 0) while no stop
    /// was asked for.
    public var finish: Finish

    /// What a process of a daemon type finishing on its own means to the launcher.
    public enum Finish: Sendable {
        /// It should not happen: logged as a warning (the default).
        case unexpected
        /// It may: the daemon decides when its work is done (my-zmq's workers end on `EXIT`).
        case expected
        /// It ends the app: the launcher's stop begins (my-zmq's server).
        case stopsTheApp
    }
    /// Creates the daemon; runs on the daemon's thread.
    public var make: @Sendable (DaemonContext) throws -> any DaemonHosting

    /// Declares a daemon type; `processes` defaults to the schema's `instances`
    /// (``DaemonSpec/instances``, 1 when the schema does not say).
    public init<D: DaemonHosting>(
        _ spec: DaemonSpec, processes: Int? = nil, finish: Finish = .unexpected,
        _ make: @escaping @Sendable (DaemonContext) throws -> D
    ) {
        self.spec = spec
        self.processes = processes ?? spec.instances
        self.finish = finish
        self.make = { try make($0) }
    }

    /// The title of process `replica` of `count`: `(my:worker)` becomes `(my:worker:3)`.
    public static func title(_ title: String, replica: Int?, of count: Int) -> String {
        guard let replica, count > 1 else { return title }
        if title.hasSuffix(")") { return String(title.dropLast()) + ":\(replica))" }
        return "\(title):\(replica)"
    }
}

/// The process entry point for daemons (the seed's `script_main`): reads the configuration,
/// sets up logging and the process title, then either runs one daemon in this process (with
/// `--daemon`, or when the executable has only one) or launches every declared daemon as
/// separate processes (see ``Launcher``).
///
/// Failures print one line on stderr and end the process with an ``ExitStatus``: 78 for
/// configuration, 69 when a socket cannot bind or connect, 1 otherwise (64, usage, comes from
/// swift-argument-parser before this runs).
public enum DaemonProcess {
    /// Runs the process described by `options` for the daemon types `programs`, from an
    /// `AsyncParsableCommand`'s `run()`. Returns when everything has ended well (exit 0);
    /// otherwise throws an `ExitCode` for swift-argument-parser to exit with, after printing the
    /// reason on stderr.
    ///
    /// No thread of the cooperative pool waits: a daemon runs on a thread of its own while this
    /// suspends, and the launcher (a supervisor loop that waits for signals and children) and
    /// `--send-control` run on threads of their own.
    public static func run(_ options: ProcessOptions, daemons programs: [DaemonProgram]) async throws {
        let status = await execute(options, programs: programs)
        // What the log writers and publishers still hold goes out first (bounded: a reader or
        // collector that stopped reading cannot keep the process from exiting).
        ProcessLogging.finish()
        if status != 0 { throw ExitCode(status) }
    }

    static var programName: String {
        String((CommandLine.arguments.first ?? "zdaemon").split(separator: "/").last ?? "zdaemon")
    }

    /// Prints `message` as one line on stderr, after the log lines queued before it; waits at
    /// most a second for a reader that does not read.
    static func report(_ message: String) {
        ProcessLogging.flush(timeout: .milliseconds(500))
        reportSink.write(line: message)
        reportSink.flush(timeout: .seconds(1))
    }

    // Opening stderr cannot fail.
    private static let reportSink = try! LogSink(.standardError)

    /// The status for an error a daemon failed with.
    public static func status(for error: any Error) -> Int32 {
        switch error {
        case is ConfigurationError: ExitStatus.configuration
        case let zmq as ZMQError where zmq.operation == "bind" || zmq.operation == "connect": ExitStatus.unavailable
        case is ZDaemonError: ExitStatus.configuration
        case is SecurityConfigurationError, is CurveKeyFileError, is ZAPPolicyError: ExitStatus.configuration
        case is CurveUnavailableError: ExitStatus.unavailable
        default: ExitStatus.failure
        }
    }

    static func execute(_ options: ProcessOptions, programs: [DaemonProgram]) async -> Int32 {
        let specs = programs.map(\.spec)
        let configuration: RuntimeConfiguration
        do {
            configuration = try RuntimeConfiguration(
                path: options.config, specs: specs, environment: ProcessInfo.processInfo.environment,
                assignments: options.assignments, instance: options.instance)
        } catch {
            report(error.description)
            return ExitStatus.configuration
        }
        guard configuration.logging.hasLogger(options.logHandler) else {
            report("\(options.config): error: -l/--log-handler '\(options.logHandler)': no logger with that qualname in [loggers]")
            return ExitStatus.configuration
        }
        // Warnings once per run, from the process the operator started (not again from each child).
        if ProcessInfo.processInfo.environment["ZGEN_LAUNCHER_PID"] == nil {
            for warning in configuration.warnings { report(warning) }
        }
        if let command = options.sendControl {
            guard ControlChannel.commands.contains(command) else {
                report("\(programName): error: --send-control \(ControlChannel.escaped(command)): unknown command (known: \(ControlChannel.commands.sorted().joined(separator: ", ")))")
                return ExitStatus.usage
            }
            return await onThread(named: "send-control") {
                sendControl(command, options: options, configuration: configuration, programs: programs)
            }
        }
        if options.sendControl == nil, let problem = checkFileLimit(programs, only: options.daemon) {
            report("\(programName): error: \(problem)")
            return ExitStatus.configuration
        }
        if options.daemon == nil, let endpoint = configuration.control.endpoint,
           let (status, problem) = lockInstance(endpoint, options: options) {
            report("\(programName): error: \(problem)")
            return status
        }
        if let name = options.daemon {
            guard let program = programs.first(where: { $0.spec.name == name }) else {
                report("\(programName): error: --daemon \(name): no such daemon (known: \(specs.map(\.name).joined(separator: ", ")))")
                return ExitStatus.usage
            }
            return await runOne(program, options: options, configuration: configuration, specs: specs)
        }
        if programs.count == 1, programs[0].processes == 1 {
            return await runOne(programs[0], options: options, configuration: configuration, specs: specs)
        }
        return await onThread(named: "launcher") { Launcher.run(options: options, configuration: configuration, programs: programs) }
    }

    static func sendControl(
        _ command: String, options: ProcessOptions, configuration: RuntimeConfiguration, programs: [DaemonProgram]
    ) -> Int32 {
        guard let endpoint = configuration.control.endpoint else {
            report("\(options.config): error: the control channel is disabled ([run:control] endpoint = none)")
            return ExitStatus.configuration
        }
        let expected = options.expect ?? programs.reduce(0) { $0 + $1.processes }
        do {
            let result = try ControlChannel.broadcast(command, to: endpoint, expected: expected)
            if result.subscribers < expected {
                report("\(programName): warning: sent \(command) to \(endpoint), but only \(result.subscribers) of \(expected) daemons had subscribed within 5 s")
                return ExitStatus.unavailable
            }
            return ExitStatus.success
        } catch {
            report("\(programName): error: \(error)")
            return status(for: error)
        }
    }

    /// `10`, or `2.5`: seconds for log lines.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// Makes this process, which runs the whole app (a launcher, or the one daemon of a one-daemon
    /// app), the only one that does for its control endpoint. Returns the exit status and the
    /// one-line problem when it cannot: another process already does (69), or the endpoint's
    /// directory is not private (78). `--daemon` runs take no lock: several of them, started by
    /// hand or by a launcher, make up one instance.
    static func lockInstance(_ endpoint: String, options: ProcessOptions) -> (Int32, String)? {
        do {
            try ControlChannel.checkPrivate(endpoint)
            guard case .taken(let owner) = try ControlChannel.lockInstance(endpoint) else { return nil }
            let who = owner.map { "pid \($0)" } ?? "another process"
            let name = options.instance.map { "instance '\($0)'" } ?? "the default instance"
            return (ExitStatus.unavailable, "\(name) of this app is already running (\(who) holds the control endpoint "
                + "\(endpoint)): stop it first (--send-control TERM), or start this one with --instance NAME")
        } catch {
            return (ExitStatus.configuration, error.description)
        }
    }

    /// The file descriptors one process of `program` may need, roughly: libzmq's own and the
    /// process's (32), four per channel (socket, mailbox, monitor, slack), and one per peer that
    /// may connect to a bound channel (every process the launcher starts, at most).
    static func descriptorsNeeded(by program: DaemonProgram, in programs: [DaemonProgram]) -> Int {
        let processes = programs.reduce(0) { $0 + max($1.processes, 1) }
        let bound = program.spec.channels.filter(\.bind).count
        return 32 + 4 * program.spec.channels.count + bound * processes
    }

    /// Checks RLIMIT_NOFILE against what the daemons will open (raising the soft limit up to the
    /// hard one when that is enough): with too few descriptors libzmq spins in its accept loop
    /// instead of failing. Returns the one-line problem, if any.
    static func checkFileLimit(_ programs: [DaemonProgram], only name: String?) -> String? {
        var needs = programs.filter { name == nil || $0.spec.name == name }.map { ($0.spec.name, descriptorsNeeded(by: $0, in: programs)) }
        if name == nil && !(programs.count == 1 && programs[0].processes == 1) {
            let processes = programs.reduce(0) { $0 + max($1.processes, 1) }
            needs.append(("the launcher of \(processes) processes", 32 + 2 * processes))  // a ready pipe and slack per child
        }
        guard let (who, needed) = needs.max(by: { $0.1 < $1.1 }) else { return nil }
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur >= rlim_t(needed) { return nil }
        if limit.rlim_max >= rlim_t(needed) {
            limit.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { return nil }
        }
        return "\(who) needs about \(needed) file descriptors, and RLIMIT_NOFILE allows \(limit.rlim_max) "
            + "(raise it, e.g. `ulimit -n \(max(needed, 1024))` or systemd's LimitNOFILE=)"
    }

    /// Sets the process name in `/proc/<pid>/comm`, `ps` and `top` (Linux keeps the first 15
    /// bytes), from any thread: it is the main thread's name, written through `/proc/self/comm`.
    public static func setProcessName(_ title: String) {
        #if os(Linux)
            let bytes = Array(title.utf8.prefix(15))
            let fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            _ = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        #endif
    }

    /// Runs blocking work (the launcher's supervisor loop, `--send-control`'s wait for
    /// subscribers) on a thread of its own and suspends until it returns, so that no thread of
    /// the cooperative pool waits.
    static func onThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.name = name
            thread.start()
        }
    }

    static func runOne(_ program: DaemonProgram, options: ProcessOptions, configuration: RuntimeConfiguration,
                       specs: [DaemonSpec]) async -> Int32 {
        let title = options.title ?? DaemonProgram.title(program.spec.title, replica: options.replica, of: program.processes)
        setProcessName(title)
        ProcessLogging.install(configuration.logging, processName: title, app: program.spec.app)
        // A closed log pipe or ready pipe must be an error on write, never the end of the daemon.
        signal(SIGPIPE, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        #if os(Linux)
            if let launcher = environment["ZGEN_LAUNCHER_PID"].flatMap(Int32.init) {
                // Do not outlive the launcher, even if it is killed with SIGKILL.
                _ = processControl(1 /* PR_SET_PDEATHSIG */, UInt(SIGTERM))
                if getppid() != launcher { return ExitStatus.failure }
            }
        #endif
        let label = options.logHandler
        var daemonConfiguration = DaemonConfiguration()
        daemonConfiguration.makeLogger = { _ in Logger(label: label) }
        daemonConfiguration.title = title
        daemonConfiguration.blockingThreshold = .milliseconds(Int64((options.blockingLogThreshold * 1000).rounded()))
        daemonConfiguration.shutdownTimeout = .milliseconds(Int64((options.shutdownTimeout * 1000).rounded()))
        daemonConfiguration.channels = configuration.overrides[program.spec.name] ?? [:]
        daemonConfiguration.security = configuration.security[program.spec.name]
        daemonConfiguration.monitorSocketEvents = options.socketEvents
        let context = DaemonContext(
            configuration: daemonConfiguration, settings: configuration.settings(app: program.spec.app), title: title,
            replica: options.replica, instance: options.instance)
        let readyFD = environment["ZGEN_READY_FD"].flatMap(Int32.init)
        let name = program.spec.name
        let (path, assignments, instance) = (options.config, options.assignments, options.instance)
        let service = ProcessDaemonService(
            program: program, context: context, control: configuration.control.endpoint,
            logger: Logger(label: label), configPath: options.config, environment: environment,
            assignments: options.assignments, readyDescriptor: readyFD, notifier: SystemdNotifier(environment: environment),
            rereadSecurity: {
                try RuntimeConfiguration(path: path, specs: specs, environment: environment, assignments: assignments,
                                         instance: instance).security[name]
            })
        do {
            try await service.runWithSignals()
        } catch {
            report("\(programName): error: \(title) \(program.spec.name): \(error)")
            return status(for: error)
        }
        return ProcessDaemonService.outcome(of: service, logger: Logger(label: label))
    }
}

#if os(Linux)
    /// `prctl(2)`, which Glibc's Swift module does not export: looked up once with `dlsym`.
    /// Every argument is an integer, passed in registers exactly as for a non-variadic call.
    private let prctlFunction: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32).self)
    }()

    @discardableResult
    func processControl(_ option: Int32, _ argument: UInt) -> Int32 {
        prctlFunction?(option, argument, 0, 0, 0) ?? -1
    }
#endif

/// A value behind a lock, shareable between threads.
final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// A one-shot event other tasks can await.
final class Completion: Sendable {
    private struct State {
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Marks it done and resumes every waiter.
    func complete() {
        let waiters = state.withLock { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until ``complete()`` has been called.
    func wait() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// Keeps a generated daemon (and its control subscription) alive while it runs on its thread.
final class HostedDaemon: DaemonHosting {
    let hosted: any DaemonHosting
    var control: ControlChannel.Subscription?
    let completion: Completion

    init(hosted: any DaemonHosting, control: ControlChannel.Subscription?, completion: Completion) {
        self.hosted = hosted
        self.control = control
        self.completion = completion
    }

    var daemon: Daemon { hosted.daemon }

    func run() throws {
        defer {
            // The control socket may hold the last reference to the context: releasing it runs
            // zmq_ctx_term, which delivers what the daemon sent last (within its linger). Only
            // then may the process exit, or the final messages (the seed's EXIT) would be lost.
            control?.close()
            control = nil
            completion.complete()
        }
        try hosted.run()
    }
}

/// Runs one daemon of a process as a swift-service-lifecycle `Service`: SIGINT/SIGTERM log
/// `<Name> has received terminate signal` and terminate it gracefully; SIGHUP reloads the
/// logging sections of the configuration file; SIGUSR1 logs a state dump.
public struct ProcessDaemonService: Service {
    let program: DaemonProgram
    let context: DaemonContext
    let control: String?
    let logger: Logger
    let configPath: String
    let environment: [String: String]
    let assignments: [String]
    let readyDescriptor: Int32?
    let notifier: SystemdNotifier?
    let rereadSecurity: (@Sendable () throws -> SecurityConfiguration?)?
    let handleBox = LockedBox<DaemonHandle?>(nil)
    private let reported = LockedBox(false)
    private let failure = LockedBox<(any Error)?>(nil)

    /// Creates the service: `program` created with `context`, subscribed to the control
    /// endpoint `control` (nil: none), logging lifecycle lines through `logger`; SIGHUP rereads
    /// `configPath` (its logging sections, with the log handler overrides of `environment` and
    /// `assignments`, and through `rereadSecurity`, if given, the CURVE allow-lists);
    /// `readyDescriptor`, if any, gets one byte once the daemon's channels are open; `notifier`,
    /// if any, gets systemd's `READY=1`, `WATCHDOG=1` (from the daemon's loop) and `STOPPING=1`.
    public init(
        program: DaemonProgram, context: DaemonContext, control: String?, logger: Logger, configPath: String,
        environment: [String: String] = [:], assignments: [String] = [],
        readyDescriptor: Int32? = nil, notifier: SystemdNotifier? = nil,
        rereadSecurity: (@Sendable () throws -> SecurityConfiguration?)? = nil
    ) {
        self.notifier = notifier
        self.program = program
        self.context = context
        self.control = control
        self.logger = logger
        self.configPath = configPath
        self.environment = environment
        self.assignments = assignments
        self.readyDescriptor = readyDescriptor
        self.rereadSecurity = rereadSecurity
    }

    /// Starts the daemon's thread and waits until the daemon ends; graceful shutdown or
    /// cancellation terminates it. Rethrows what creating, opening or running it threw.
    public func run() async throws {
        do {
            try await runDaemon()
        } catch {
            failure.withLock { $0 = error }
            throw error
        }
    }

    private func runDaemon() async throws {
        let program = self.program
        let context = self.context
        let control = self.control
        let readyDescriptor = self.readyDescriptor
        let completion = Completion()
        let handle = try await DaemonThread.start(name: String(context.title.utf8.prefix(15)) ?? "daemon") {
            let hosted = try program.make(context)
            let subscription = try control.map {
                try ControlChannel.subscribe(hosted.daemon, to: $0) {
                    // The launcher's stop begins too (its deadline then covers every child).
                    if let readyDescriptor { Self.tellLauncher(Launcher.PipeByte.controlTerm, on: readyDescriptor) }
                }
            }
            let host = HostedDaemon(hosted: hosted, control: subscription, completion: completion)
            do {
                try hosted.daemon.open()
            } catch {
                host.control?.close()
                throw error
            }
            return host
        }
        handleBox.withLock { $0 = handle }
        let configuration = context.configuration
        Self.enforceShutdownDeadline(of: handle, limit: configuration.shutdownTimeout + configuration.linger + .seconds(2),
                                     name: program.spec.name, logger: logger, notifier: notifier)
        if let notifier {
            let name = program.spec.name
            let title = context.title
            Task {
                await handle.started()
                notifier.send("READY=1\nSTATUS=\(name) \(title): channels open, processing messages")
                guard let interval = notifier.watchdogInterval else { return }
                // From the loop itself: a wedged or stopped loop falls silent, and systemd acts.
                _ = handle.execute { (daemon: Daemon) in
                    daemon.loop.scheduleRepeatedTask(initialDelay: .zero, delay: interval, name: "systemd watchdog") {
                        notifier.send("WATCHDOG=1")
                    }
                }
            }
        }
        Self.warnAboutUnresolvableHosts(program.spec, overrides: context.configuration.channels, logger: logger)
        if let readyDescriptor = self.readyDescriptor {
            // Never block the loop on a launcher that does not read.
            _ = fcntl(readyDescriptor, F_SETFL, fcntl(readyDescriptor, F_GETFL) | O_NONBLOCK)
            Task {
                await handle.started()
                Self.tellLauncher(Launcher.PipeByte.ready, on: readyDescriptor)
                // The heartbeat comes from the loop itself: a wedged or stopped loop falls silent.
                _ = handle.execute { (daemon: Daemon) in
                    daemon.loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1), name: "heartbeat") {
                        Self.tellLauncher(Launcher.PipeByte.heartbeat, on: readyDescriptor)
                    }
                }
            }
        }
        let name = program.spec.name
        await DaemonService.awaitFinish(of: handle) { logTerminateSignal(name: name) }
        // Wait until the daemon's thread has released its sockets and context (see HostedDaemon).
        await completion.wait()
        if let error = handle.error { throw error }
    }

    /// The exit status of a daemon process whose service ended without an error: 75 when the
    /// shutdown deadline cut it short, 74 (logged) when a linger ran out with messages maybe
    /// still unsent, else 0.
    static func outcome(of service: ProcessDaemonService, logger: Logger) -> Int32 {
        let lost = ZMQContext.takeLingerExpirations()
        if !lost.isEmpty {
            let name = service.program.spec.name
            logger.warning("\(name): messages possibly lost: linger expired on \(lost.joined(separator: ", ")) (its peers had not taken everything sent)")
        }
        if service.handleBox.withLock({ $0?.wasCutShort }) == true { return ExitStatus.shutdownDeadline }
        return lost.isEmpty ? ExitStatus.success : ExitStatus.possiblyLost
    }

    /// Ends the process (exit 75) if the daemon has not finished within `limit` of beginning to
    /// terminate: a handler that never returns cannot be interrupted on its own thread, and a
    /// daemon process must stop when asked to. Runs on a thread of its own.
    static func enforceShutdownDeadline(of handle: DaemonHandle, limit: Duration, name: String, logger: Logger,
                                        notifier: SystemdNotifier? = nil) {
        let thread = Thread {
            _ = handle.waitUntilTerminating()
            notifier?.send("STOPPING=1\nSTATUS=\(name) is terminating")
            guard !handle.waitUntilFinished(timeout: limit) else { return }
            logger.error("\(name) did not finish within \(Daemon.describe(limit)) s of terminating (a handler or timer is still running): exiting with status \(ExitStatus.shutdownDeadline)")
            ProcessLogging.finish(timeout: .seconds(1))
            _exit(ExitStatus.shutdownDeadline)
        }
        thread.name = "shutdown guard"
        thread.start()
    }

    /// Writes one byte to the launcher's pipe (non-blocking; a full or closed pipe is ignored).
    static func tellLauncher(_ byte: UInt8, on descriptor: Int32) {
        var byte = byte
        _ = write(descriptor, &byte, 1)
    }

    /// The host names (not addresses) the daemon's tcp channels connect to, by channel.
    static func connectHosts(_ spec: DaemonSpec, overrides: [String: ChannelOverride]) -> [(channel: String, endpoint: String, host: String)] {
        var hosts: [(String, String, String)] = []
        for declared in spec.channels {
            let channel = overrides[declared.name]?.applied(to: declared) ?? declared
            guard !channel.bind else { continue }
            for endpoint in channel.endpoints where endpoint.hasPrefix("tcp://") {
                var rest = endpoint.dropFirst(6)
                if let semicolon = rest.lastIndex(of: ";") { rest = rest[rest.index(after: semicolon)...] }  // source;destination
                guard let colon = rest.lastIndex(of: ":") else { continue }
                var host = String(rest[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { continue }  // an IPv6 address
                host = host.trimmingCharacters(in: .whitespaces)
                if host.isEmpty || host == "*" || host.allSatisfy({ $0.isNumber || $0 == "." }) { continue }
                hosts.append((declared.name, endpoint, host))
            }
        }
        return hosts
    }

    /// libzmq resolves a connect's host lazily and retries for ever in silence: look each host up
    /// once, on a thread of its own (never the loop, never delaying the start), and warn about
    /// one that does not resolve.
    static func warnAboutUnresolvableHosts(_ spec: DaemonSpec, overrides: [String: ChannelOverride], logger: Logger) {
        let hosts = connectHosts(spec, overrides: overrides)
        guard !hosts.isEmpty else { return }
        let name = spec.name
        let thread = Thread {
            for (channel, endpoint, host) in hosts {
                var result: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, nil, &result)
                if let result { freeaddrinfo(result) }
                if status != 0 {
                    logger.warning("\(name): channel \(channel): \(endpoint): host '\(host)' does not resolve (\(String(cString: gai_strerror(status)))); libzmq keeps trying")
                }
            }
        }
        thread.name = "resolve"
        thread.start()
    }

    /// Logs the first graceful shutdown (SIGINT or SIGTERM) once.
    private func logTerminateSignal(name: String) {
        let first = reported.withLock { done in
            defer { done = true }
            return !done
        }
        if first { logger.info("\(name) has received terminate signal") }
    }

    /// Runs the service in a `ServiceGroup` that turns SIGTERM and SIGINT into graceful
    /// shutdown, with SIGHUP (reload logging) and SIGUSR1 (state dump) handled alongside.
    public func runWithSignals() async throws {
        let quiet = Logger(label: "zdaemon.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() })
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: self, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        let sources = installSignalSources()
        defer { sources.forEach { $0.cancel() } }
        do {
            try await group.run()
        } catch {
            // Report what the daemon failed with rather than the group's wrapper.
            throw failure.withLock { $0 } ?? error
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    private func installSignalSources() -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "zdaemon.signals")
        let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        reload.setEventHandler { self.reloadLogging() }
        let dump = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: queue)
        dump.setEventHandler { self.dumpState() }
        #if canImport(Darwin)
            signal(SIGHUP, SIG_IGN)
            signal(SIGUSR1, SIG_IGN)
        #endif
        reload.resume()
        dump.resume()
        return [reload, dump]
    }

    /// Rereads the logging sections of the configuration file and installs them; on error the
    /// previous configuration stays and the error is logged.
    func reloadLogging() {
        do {
            let document = try RuntimeConfiguration.readDocument(path: configPath)
            let logging = try LoggingConfiguration(document: document, path: configPath, environment: environment,
                                                   assignments: assignments)
            ProcessLogging.install(logging, processName: context.title)
            logger.info("\(program.spec.name) has reloaded the logging configuration from \(configPath)")
        } catch {
            logger.error("\(program.spec.name) could not reload the logging configuration: \(error)")
        }
        reloadAllowLists()
    }

    /// Rereads the CURVE settings and gives the daemon's servers their new client policies: a
    /// revoked key is refused on its next handshake. On error the old policies stay, logged.
    func reloadAllowLists() {
        guard let rereadSecurity, let handle = handleBox.withLock({ $0 }) else { return }
        let name = program.spec.name
        let security: SecurityConfiguration?
        do {
            security = try rereadSecurity()
        } catch {
            logger.error("\(name) could not reload its CURVE allow-lists: \(error)")
            return
        }
        guard let security else { return }
        let logger = self.logger
        handle.execute { (daemon: Daemon) in
            do {
                for change in try security.applyClientPolicies(to: daemon) { logger.info("\(change)") }
            } catch {
                logger.error("\(name) could not reload its CURVE allow-lists: \(error)")
            }
        }
    }

    /// Logs the daemon's state on its loop: per channel its socket, endpoints, counters, the
    /// depth of the runtime's send queue (of its bound), whether its input is paused by flow
    /// control, and its live connections (connects and accepts minus disconnects; known only
    /// while socket events are observed: `--socket-events`).
    func dumpState() {
        guard let handle = handleBox.withLock({ $0 }) else { return }
        let logger = self.logger
        let title = context.title
        handle.execute { (daemon: Daemon) in
            logger.info("\(daemon.spec.name) state (\(title), pid \(getpid())): \(daemon.spec.channels.count) channels, terminating: \(daemon.isTerminating)")
            for line in Self.stateLines(daemon) { logger.info("\(line)") }
        }
    }

    /// One line per channel of ``dumpState()``, e.g. `MyServer channel job PUSH bind
    /// tcp://0.0.0.0:9090: received 0, sent 12, dropped 0, handler errors 0, refused 0, queued
    /// sends 3/1000, live connections 2`. Loop thread only.
    static func stateLines(_ daemon: Daemon) -> [String] {
        daemon.spec.channels.indices.map { index in
            let spec = daemon.channelSpec(index)
            let counters = daemon.counters(index)
            let endpoints = spec.bind ? daemon.boundEndpoints(index) : spec.endpoints
            let connections = daemon.monitorsSocketEvents(index)
                ? "\(daemon.liveConnections(index))" : "unknown (socket events not observed)"
            var line = "\(daemon.spec.name) channel \(spec.name) \(spec.socket.rawValue) \(spec.bind ? "bind" : "connect") \(endpoints.joined(separator: ",")): received \(counters.received), sent \(counters.sent), dropped \(counters.dropped), handler errors \(counters.handlerErrors), refused \(counters.refused)"
            if spec.socket.canSend { line += ", queued sends \(daemon.queuedSends(index))/\(spec.queue)" }
            if daemon.isReceivePaused(index) { line += ", receive paused (flow control or a full stream buffer)" }
            line += ", live connections \(connections)"
            if daemon.monitorsSocketEvents(index) {
                let failures = daemon.socketEventCounts(index).filter { $0.key.hasPrefix("handshakeFailed") }.values.reduce(0, +)
                line += ", handshake failures \(failures)"
            }
            return line
        } + zapLines(daemon)
    }

    /// The ZAP handler's decisions for the daemon's context, if it runs one (CURVE servers):
    /// `MyServer ZAP: accepted 3, refused 12 (unknown-key 12)`.
    static func zapLines(_ daemon: Daemon) -> [String] {
        guard let context = daemon.context, let handler = ZAPHandler.shared(for: context) else { return [] }
        let statistics = handler.statistics
        let reasons = statistics.refusedByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        var line = "\(daemon.spec.name) ZAP: accepted \(statistics.accepted), refused \(statistics.refused)"
        if !reasons.isEmpty { line += " (\(reasons))" }
        if let last = handler.recentRefusals.last { line += "; the last refusal: \(last)" }
        return [line]
    }
}

import ZDaemon
import ZDaemonSecurity
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import INIFormat
import Foundation

/// The settings of an `[app:<app>]` section, readable by a daemon's code.
public struct AppSettings: Sendable, Equatable {
    /// The app's name (the `<app>` of the section).
    public var app: String
    /// The section's keys and values (the last value of a repeated key).
    public var values: [String: String]

    /// Creates settings.
    public init(app: String, values: [String: String] = [:]) {
        self.app = app
        self.values = values
    }

    /// The value of `key`, if set.
    public subscript(key: String) -> String? { values[key] }
}

/// Where the control channel is: every daemon SUBs to it and terminates on `TERM`.
public struct ControlSettings: Sendable, Equatable {
    /// The endpoint, or nil when the control channel is disabled.
    public var endpoint: String?

    /// The default endpoint of `app`, in a directory only the daemons' user may write, looked up
    /// in this order: `$RUNTIME_DIRECTORY` (systemd's, its first entry), `$XDG_RUNTIME_DIR`
    /// (`ipc://<dir>/<app>-control`), else `ipc://<$TMPDIR or /tmp>/<app>-<uid>/control`, a
    /// directory the first daemon or sender creates with mode 0700. Either way the directory's
    /// owner and mode are checked before anyone connects or binds (``ControlChannel``). A named
    /// `instance` (`--instance`) gets the same path with `.<instance>` appended.
    public static func defaultEndpoint(
        app: String, instance: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        let suffix = instance.map { ".\($0)" } ?? ""
        func clean(_ path: String) -> String {
            var path = path
            while path.count > 1, path.hasSuffix("/") { path.removeLast() }
            return path
        }
        let runtime = environment["RUNTIME_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
        if let directory = runtime ?? environment["XDG_RUNTIME_DIR"], directory.hasPrefix("/") {
            return "ipc://\(clean(directory))/\(app)-control\(suffix)"
        }
        var temporary = environment["TMPDIR"] ?? "/tmp"
        if !temporary.hasPrefix("/") { temporary = "/tmp" }
        return "ipc://\(clean(temporary))/\(app)-\(getuid())/control\(suffix)"
    }

    /// Why `name` cannot name an app instance (`--instance`), or nil when it can: 1 to 64 letters,
    /// digits, `.`, `_` and `-`, not starting with `.` or `-`, since it becomes part of a path.
    public static func problem(instance name: String) -> String? {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, !name.hasPrefix("."), !name.hasPrefix("-") else {
            return "an instance name is 1 to 64 letters, digits, '.', '_' or '-', and starts with a letter, digit or '_'"
        }
        return nil
    }
}

/// The run-time configuration of a process: what the INI file (minus the schema sections zgen
/// reads), the environment and the command line say about the daemons of one app.
///
/// Channel overrides are layered field by field with the precedence
/// command line (`--set`) > environment (`ZGEN_<DAEMON>_<CHANNEL>_<KEY>`) > INI
/// (`[run:<Daemon>.<channel>]`) > schema. Keys: `endpoint`/`endpoints` (comma-separated),
/// `bind`, `subscribe`, `hwm`, `queue`, `linger`, `timeout`, `security` (`curve` turns CURVE on for a
/// channel the schema leaves plaintext; never off), `reconnect_ivl`,
/// `reconnect_ivl_max`, `heartbeat_ivl`, `heartbeat_timeout`, `heartbeat_ttl`, `immediate`,
/// `router_mandatory`, `tcp_keepalive`, `xpub_no_drop`, `max_message_size`, `max_parts`, `max_total_size`. In INI and `--set`, the daemon `*` means every daemon
/// that has the channel. The control channel is `[run:control] endpoint = ...` (`none` disables
/// it), `ZGEN_CONTROL_ENDPOINT`, `--set control.endpoint=...`.
public struct RuntimeConfiguration: Sendable {
    /// The file it was read from.
    public var path: String
    /// The parsed file.
    public var document: INIDocument
    /// The logging sections.
    public var logging: LoggingConfiguration
    /// `[app:<app>]` of every app in the file, by app name.
    public var apps: [String: AppSettings]
    /// Per daemon (spec name), per channel (name): the layered override.
    public var overrides: [String: [String: ChannelOverride]]
    /// The control channel.
    public var control: ControlSettings
    /// Per daemon (spec name): CURVE keys and client policies, loaded from the key files named
    /// in `[run:security]`, `[run:<Daemon>.<channel>]`, the environment or `--set` (see
    /// ``SecuritySettings``).
    public var security: [String: SecurityConfiguration]

    /// The override keys a channel accepts.
    public static let overrideKeys: [String] =
        ["endpoint", "endpoints", "bind", "subscribe", "hwm", "queue", "linger", "timeout", "security"]
        + ChannelOption.allCases.map(\.configurationKey)

    /// Sections zgen reads (schema) and the runtime skips.
    static func isSchemaSection(_ name: String) -> Bool {
        name == "zgen" || name.hasPrefix("message:") || name.hasPrefix("daemon:") || name.hasPrefix("channel:")
    }

    /// The largest configuration file read (1 MiB): a bigger one (or `/dev/zero`) is an error,
    /// never a process that grows without bound.
    public static let maxFileSize = 1 << 20

    /// Reads the file at `path`: missing, unreadable, a directory, larger than ``maxFileSize`` or
    /// malformed INI are ``ConfigurationError``s naming the path (and line).
    public static func readDocument(path: String) throws(ConfigurationError) -> INIDocument {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigurationError(origin: path, message: "cannot read configuration file: \(String(cString: strerror(errno)))")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw ConfigurationError(origin: path, message: "configuration file is a directory")
        }
        guard let file = fopen(path, "rb") else {
            throw ConfigurationError(origin: path, message: "cannot read configuration file: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes += buffer[0..<count] }
            if bytes.count > maxFileSize {
                throw ConfigurationError(origin: path, message: "configuration file is larger than \(maxFileSize >> 20) MiB")
            }
            if count < buffer.count { break }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError(origin: path, message: "configuration file is not valid UTF-8")
        }
        do {
            return try INIParser.parse(text)
        } catch {
            throw ConfigurationError(path: path, position: error.position, message: error.message)
        }
    }

    /// Reads and checks the configuration for the daemons `specs`, layering `environment` and
    /// the command line's `--set` assignments over the file.
    /// The control endpoint's default is the one of app instance `instance` (`--instance`).
    public init(
        path: String, specs: [DaemonSpec], environment: [String: String] = [:], assignments: [String] = [],
        instance: String? = nil
    ) throws(ConfigurationError) {
        let document = try RuntimeConfiguration.readDocument(path: path)
        try self.init(document: document, path: path, specs: specs, environment: environment, assignments: assignments,
                      instance: instance)
    }

    /// Checks an already-parsed file; see ``init(path:specs:environment:assignments:instance:)``.
    public init(
        document: INIDocument, path: String, specs: [DaemonSpec], environment: [String: String] = [:],
        assignments: [String] = [], instance: String? = nil
    ) throws(ConfigurationError) {
        self.path = path
        self.document = document
        self.logging = try LoggingConfiguration(document: document, path: path, environment: environment, assignments: assignments)
        var apps: [String: AppSettings] = [:]
        for section in document.sections where section.name.hasPrefix("app:") {
            let app = String(section.name.dropFirst(4))
            var settings = apps[app] ?? AppSettings(app: app)
            for entry in section.entries { settings.values[entry.key] = entry.value }
            apps[app] = settings
        }
        self.apps = apps
        let app = specs.first?.app ?? "zgen"
        var control = ControlSettings(endpoint: ControlSettings.defaultEndpoint(app: app, instance: instance, environment: environment))
        var overrides: [String: [String: ChannelOverride]] = [:]

        func targets(daemon: String, channel: String, origin: String) throws(ConfigurationError) -> [(String, ChannelSpec)] {
            let matching = specs.filter { daemon == "*" || $0.name == daemon }
            if matching.isEmpty {
                let known = specs.map(\.name).joined(separator: ", ")
                throw ConfigurationError(origin: origin, message: "no daemon '\(daemon)' (known: \(known))")
            }
            var found: [(String, ChannelSpec)] = []
            for spec in matching {
                if let channelSpec = spec.channels.first(where: { $0.name == channel }) {
                    found.append((spec.name, channelSpec))
                }
            }
            if found.isEmpty {
                let known = matching.flatMap { $0.channels.map(\.name) }.joined(separator: ", ")
                throw ConfigurationError(origin: origin, message: "\(daemon) has no channel '\(channel)' (channels: \(known))")
            }
            return found
        }
        func apply(daemon: String, channel: String, key: String, value: String, origin: String) throws(ConfigurationError) {
            for (name, channelSpec) in try targets(daemon: daemon, channel: channel, origin: origin) {
                var override = overrides[name, default: [:]][channel] ?? ChannelOverride()
                try RuntimeConfiguration.set(key: key, value: value, on: &override, spec: channelSpec, origin: origin)
                overrides[name, default: [:]][channel] = override
            }
        }
        func setControl(key: String, value: String, origin: String) throws(ConfigurationError) {
            switch key {
            case "endpoint":
                let lowered = value.lowercased()
                if ["", "none", "off", "disabled"].contains(lowered) {
                    control.endpoint = nil
                } else {
                    try RuntimeConfiguration.checkEndpoint(value, origin: origin)
                    control.endpoint = value
                }
            case "enabled":
                guard let enabled = RuntimeConfiguration.bool(value) else {
                    throw ConfigurationError(origin: origin, message: "control.enabled: expected true or false, not '\(value)'")
                }
                if !enabled { control.endpoint = nil }
            default:
                throw ConfigurationError(origin: origin, message: "unknown control key '\(key)' (expected endpoint or enabled)")
            }
        }

        // 1. INI.
        for section in document.sections where section.name.hasPrefix("run:") {
            let target = String(section.name.dropFirst(4))
            if target == SecuritySettings.sectionName { continue }  // read by SecuritySettings below
            if target == "control" {
                for entry in section.entries {
                    try setControl(key: entry.key, value: entry.value, origin: "\(path):\(entry.valuePosition)")
                }
                continue
            }
            guard let dot = target.firstIndex(of: "."), dot != target.startIndex, target.index(after: dot) != target.endIndex
            else {
                throw ConfigurationError(path: path, position: section.position,
                    message: "[\(section.name)]: expected [run:<Daemon>.<channel>] or [run:control]")
            }
            let daemon = String(target[..<dot])
            let channel = String(target[target.index(after: dot)...])
            for entry in section.entries {
                try apply(daemon: daemon, channel: channel, key: entry.key, value: entry.value,
                    origin: "\(path):\(entry.valuePosition)")
            }
        }
        // 2. Environment.
        for spec in specs {
            for channel in spec.channels {
                for key in RuntimeConfiguration.overrideKeys {
                    let name = RuntimeConfiguration.environmentName(daemon: spec.name, channel: channel.name, key: key)
                    if let value = environment[name] {
                        try apply(daemon: spec.name, channel: channel.name, key: key, value: value,
                            origin: "environment variable \(name)")
                    }
                }
            }
        }
        if let value = environment["ZGEN_CONTROL_ENDPOINT"] {
            try setControl(key: "endpoint", value: value, origin: "environment variable ZGEN_CONTROL_ENDPOINT")
        }
        // 3. Command line.
        for assignment in assignments {
            let origin = "--set \(assignment)"
            guard let equals = assignment.firstIndex(of: "=") else {
                throw ConfigurationError(origin: origin, message: "expected <Daemon>.<channel>.<key>=<value>")
            }
            let path = assignment[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let value = String(assignment[assignment.index(after: equals)...])
            if path.count == 2, path[0] == "control" {
                try setControl(key: path[1], value: value, origin: origin)
            } else if path.count == 2, path[0] == SecuritySettings.sectionName {
                continue  // read by SecuritySettings below
            } else if path.first == "log" {
                continue  // a log handler's key, read by LoggingConfiguration above
            } else if path.count == 3, path.allSatisfy({ !$0.isEmpty }) {
                try apply(daemon: path[0], channel: path[1], key: path[2], value: value, origin: origin)
            } else {
                throw ConfigurationError(origin: origin, message: "expected <Daemon>.<channel>.<key>=<value>, control.endpoint=<endpoint> or log.<handler>.<key>=<value>")
            }
        }
        self.overrides = overrides
        self.control = control
        self.warnings = Self.warnings(in: document, path: path)
        self.security = try SecuritySettings.read(document: document, path: path, specs: specs,
                                                  environment: environment, assignments: assignments)
    }

    /// What the file says that is probably a mistake but does not stop the daemons: unknown
    /// sections, repeated sections and repeated keys (the last value wins), each as
    /// `<path>:<line>:<column>: warning: …`.
    public var warnings: [String] = []

    /// Sections the runtime or zgen reads.
    static func isKnownSection(_ name: String) -> Bool {
        isSchemaSection(name) || name.hasPrefix("run:") || name.hasPrefix("app:")
            || ["loggers", "handlers", "formatters"].contains(name)
            || name.hasPrefix("logger_") || name.hasPrefix("handler_") || name.hasPrefix("formatter_")
    }

    static func warnings(in document: INIDocument, path: String) -> [String] {
        var warnings: [String] = []
        var seenSections: [String: SourcePosition] = [:]
        for section in document.sections {
            if !isKnownSection(section.name) {
                warnings.append("\(path):\(section.position): warning: unknown section [\(section.name)] (ignored)")
            } else if let first = seenSections[section.name], !isSchemaSection(section.name) {
                warnings.append("\(path):\(section.position): warning: section [\(section.name)] repeats the one at line \(first.line)")
            }
            if seenSections[section.name] == nil { seenSections[section.name] = section.position }
            var seenKeys: [String: SourcePosition] = [:]
            for entry in section.entries {
                if let first = seenKeys[entry.key] {
                    warnings.append("\(path):\(entry.keyPosition): warning: key '\(entry.key)' repeats the one at line \(first.line) in [\(section.name)]; the last value wins")
                } else {
                    seenKeys[entry.key] = entry.keyPosition
                }
            }
        }
        return warnings
    }

    /// The environment variable for one override: `ZGEN_<DAEMON>_<CHANNEL>_<KEY>`, upper-cased,
    /// every character other than a letter or digit replaced by `_`
    /// (`ZGEN_MYWORKER_JOB_ENDPOINT`).
    public static func environmentName(daemon: String, channel: String, key: String) -> String {
        "ZGEN_\(environmentWord(daemon))_\(environmentWord(channel))_\(environmentWord(key))"
    }

    /// `text` as part of an environment variable's name: upper-cased, every character other than
    /// an ASCII letter or digit replaced by `_`.
    static func environmentWord(_ text: String) -> String {
        String(text.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }

    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }

    /// Checks an endpoint's shape: `tcp://host:port` (port a number or `*`), `ipc://path`,
    /// `inproc://name`, `pgm://`, `epgm://`, `vmci://`.
    public static func checkEndpoint(_ endpoint: String, origin: String) throws(ConfigurationError) {
        func bad(_ why: String) -> ConfigurationError {
            ConfigurationError(origin: origin, message: "bad endpoint '\(endpoint)': \(why)")
        }
        guard let range = endpoint.range(of: "://") else {
            throw bad("expected <transport>://<address>, e.g. tcp://127.0.0.1:9090 or ipc:///tmp/name")
        }
        let transport = endpoint[..<range.lowerBound]
        let address = endpoint[range.upperBound...]
        guard !address.isEmpty else { throw bad("the address is empty") }
        switch transport {
        case "tcp":
            guard let colon = address.lastIndex(of: ":") else { throw bad("tcp needs host:port") }
            let host = address[..<colon]
            let port = address[address.index(after: colon)...]
            guard !host.isEmpty else { throw bad("tcp needs a host (or * to bind all interfaces)") }
            if port == "*" || port == "0" { return }
            guard let number = Int(port), (1...65535).contains(number) else {
                throw bad("the port must be 1-65535 or *")
            }
        case "ipc", "inproc", "pgm", "epgm", "vmci":
            return
        default:
            throw bad("unknown transport '\(transport)' (expected tcp, ipc, inproc, pgm, epgm or vmci)")
        }
    }

    static func set(key: String, value: String, on override: inout ChannelOverride, spec: ChannelSpec, origin: String)
        throws(ConfigurationError)
    {
        func int32(_ range: ClosedRange<Int>) throws(ConfigurationError) -> Int32 {
            guard let number = Int32(value.trimmingSpaces()) else {
                throw ConfigurationError(origin: origin, message: "\(key): expected an integer, not '\(value)'")
            }
            guard range.contains(Int(number)) else {
                throw ConfigurationError(origin: origin,
                    message: "\(key): \(number) is out of range (\(range.lowerBound)...\(range.upperBound))")
            }
            return number
        }
        func flag() throws(ConfigurationError) -> Bool {
            guard let result = bool(value.trimmingSpaces()) else {
                throw ConfigurationError(origin: origin, message: "\(key): expected true or false, not '\(value)'")
            }
            return result
        }
        func list() -> [String] {
            value.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces() }
        }
        // The CURVE keys of a channel are read (and their files loaded) by SecuritySettings.
        if SecuritySettings.keys.contains(key) { return }
        if let option = ChannelOption(configurationKey: key) {
            switch option.kind {
            case .integer(let range): override.options[option] = .integer(try int32(range))
            case .flag: override.options[option] = .flag(try flag())
            }
            return
        }
        switch key {
        case "endpoint", "endpoints":
            let endpoints = list().filter { !$0.isEmpty }
            guard !endpoints.isEmpty else {
                throw ConfigurationError(origin: origin, message: "\(key): at least one endpoint is needed")
            }
            for endpoint in endpoints { try checkEndpoint(endpoint, origin: origin) }
            override.endpoints = endpoints
        case "bind": override.bind = try flag()
        case "subscribe":
            guard spec.socket == .sub else {
                throw ConfigurationError(origin: origin, message: "subscribe: channel \(spec.name) is \(spec.socket.rawValue), not SUB")
            }
            override.subscribe = value.isEmpty ? [""] : list()
        case "hwm": override.hwm = try int32(ChannelLimits.hwm)
        case "queue": override.queue = Int(try int32(ChannelLimits.queue))
        case "linger": override.linger = try int32(ChannelLimits.linger)
        case "timeout": override.timeout = Int(try int32(ChannelLimits.timeout))
        case "security":
            guard let security = ChannelSecurity(rawValue: value.trimmingSpaces().lowercased()) else {
                throw ConfigurationError(origin: origin, message: "security: expected none or curve, not '\(value)'")
            }
            if spec.security == .curve && security == .none {
                throw ConfigurationError(origin: origin,
                    message: "security: channel \(spec.name) is CURVE in its schema, and a configuration cannot make it plaintext")
            }
            override.security = security
        default:
            throw ConfigurationError(origin: origin,
                message: "unknown channel key '\(key)' (expected \((overrideKeys + SecuritySettings.keys).joined(separator: ", ")))")
        }
    }

    /// The settings of `app` (empty when the file has no `[app:<app>]`).
    public func settings(app: String) -> AppSettings {
        apps[app] ?? AppSettings(app: app)
    }
}

import INIFormat
import ZDaemon
import ZDaemonSecurity

/// The keys of a `[handler_<key>]` section with `class = ZMQHandler`, and their overrides.
///
/// ```ini
/// [handler_central]
/// class = ZMQHandler
/// args = ('tcp://127.0.0.1:9020',)     ; or: endpoint = tcp://127.0.0.1:9020 (comma-separated for several)
/// level = INFO
/// queue = 10000                        ; records held for the collector, then dropped and counted
/// hwm = 1000                           ; ZMQ_SNDHWM
/// linger = 1000                        ; ms the process may wait for the collector at exit
/// curve_secret_key_file = keys/server.key_secret
/// curve_server_public_key_file = keys/zlogd.key
/// ```
///
/// Each key may be overridden by `ZGEN_LOG_<HANDLER>_<KEY>` (`ZGEN_LOG_CENTRAL_ENDPOINT`) and by
/// `--set log.<handler>.<key>=…` (command line > environment > INI). Relative key file paths
/// in the INI file are relative to its directory, elsewhere to the working directory.
public enum ZMQHandlerKey: String, Sendable, CaseIterable {
    /// The collector endpoints (comma-separated); also the first item of `args`.
    case endpoint
    /// The handler's level (`level` of any handler).
    case level
    /// The most records waiting for the collector.
    case queue
    /// ZMQ_SNDHWM, messages.
    case hwm
    /// Milliseconds the process may wait at exit for the collector to take what is queued.
    case linger
    /// ZMQ_RECONNECT_IVL, milliseconds.
    case reconnectIvl = "reconnect_ivl"
    /// This handler's secret key file (zcert format).
    case curveSecretKeyFile = "curve_secret_key_file"
    /// Its public key file, checked against the secret one.
    case curvePublicKeyFile = "curve_public_key_file"
    /// The collector's public key file.
    case curveServerPublicKeyFile = "curve_server_public_key_file"

    /// `ZGEN_LOG_CENTRAL_ENDPOINT` for handler `central`, key `endpoint`.
    public static func environmentName(handler: String, key: ZMQHandlerKey) -> String {
        "ZGEN_LOG_\(RuntimeConfiguration.environmentWord(handler))_\(RuntimeConfiguration.environmentWord(key.rawValue))"
    }

    /// Whether `className` (the INI's `class`) names the ZeroMQ handler: `ZMQHandler`, or a dotted
    /// path ending in it (`cs.eyrie.ZMQHandler`).
    public static func isHandlerClass(_ className: String) -> Bool {
        className == "ZMQHandler" || className.hasSuffix(".ZMQHandler")
    }
}

/// One value of a ZMQHandler key and where it was set.
struct HandlerSetting {
    var value: String
    var origin: String
    var base: String?
}

extension LoggingConfiguration {
    /// The overrides of handler keys from the environment and `--set log.<handler>.<key>=…`,
    /// by handler, checked against the handlers in `[handlers]`.
    static func handlerOverrides(
        handlers: [String], environment: [String: String], assignments: [String]
    ) throws(ConfigurationError) -> [String: [ZMQHandlerKey: HandlerSetting]] {
        var overrides: [String: [ZMQHandlerKey: HandlerSetting]] = [:]
        for handler in handlers {
            for key in ZMQHandlerKey.allCases {
                let name = ZMQHandlerKey.environmentName(handler: handler, key: key)
                if let value = environment[name] {
                    overrides[handler, default: [:]][key] = HandlerSetting(value: value, origin: "environment variable \(name)")
                }
            }
        }
        for assignment in assignments where assignment.hasPrefix("log.") {
            let origin = "--set \(assignment)"
            guard let equals = assignment.firstIndex(of: "=") else {
                throw ConfigurationError(origin: origin, message: "expected log.<handler>.<key>=<value>")
            }
            let path = assignment[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard path.count == 3, !path[1].isEmpty else {
                throw ConfigurationError(origin: origin, message: "expected log.<handler>.<key>=<value>")
            }
            guard handlers.contains(path[1]) else {
                throw ConfigurationError(origin: origin, message: "no handler '\(path[1])' in [handlers] keys"
                    + (handlers.isEmpty ? "" : " (have: \(handlers.joined(separator: ", ")))"))
            }
            guard let key = ZMQHandlerKey(rawValue: path[2]) else {
                throw ConfigurationError(origin: origin, message: "unknown log handler key '\(path[2])' (expected "
                    + ZMQHandlerKey.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            overrides[path[1], default: [:]][key] = HandlerSetting(value: String(assignment[assignment.index(after: equals)...]), origin: origin)
        }
        return overrides
    }

    /// The publisher of a `class = ZMQHandler` section, from its keys with `overrides` on top.
    static func zmqPublisher(
        section: INISection, key handlerKey: String, arguments: [String], path: String,
        overrides: [ZMQHandlerKey: HandlerSetting]
    ) throws(ConfigurationError) -> LogPublisher {
        let name = section.name
        let directory: String? = {
            guard let slash = path.lastIndex(of: "/") else { return nil }
            let dir = String(path[..<slash])
            return dir.isEmpty ? "/" : dir
        }()
        var settings: [ZMQHandlerKey: HandlerSetting] = [:]
        let known = Set(ZMQHandlerKey.allCases.map(\.rawValue) + ["class", "args", "formatter", "endpoints"])
        for entry in section.entries {
            guard known.contains(entry.key) else {
                throw ConfigurationError(path: path, position: entry.keyPosition,
                    message: "[\(name)] unknown key '\(entry.key)' for a ZMQHandler (expected "
                        + ZMQHandlerKey.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            let key = entry.key == "endpoints" ? ZMQHandlerKey.endpoint : ZMQHandlerKey(rawValue: entry.key)
            if let key {
                settings[key] = HandlerSetting(value: entry.value, origin: "\(path):\(entry.valuePosition)", base: directory)
            }
        }
        if settings[.endpoint] == nil, let first = arguments.first, let args = section["args"] {
            settings[.endpoint] = HandlerSetting(value: first, origin: "\(path):\(args.valuePosition)")
        }
        settings.merge(overrides) { $1 }
        guard let endpointSetting = settings[.endpoint] else {
            throw ConfigurationError(path: path, position: section.position,
                message: "[\(name)] a ZMQHandler needs the collector's endpoint: endpoint = tcp://host:port, or args = ('tcp://host:port',)")
        }
        let endpoints = endpointSetting.value.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        guard !endpoints.isEmpty else {
            throw ConfigurationError(origin: endpointSetting.origin, message: "[\(name)] endpoint: at least one endpoint is needed")
        }
        for endpoint in endpoints {
            try RuntimeConfiguration.checkEndpoint(endpoint, origin: endpointSetting.origin)
            if endpoint.hasPrefix("tcp://"), endpoint.hasSuffix(":*") || endpoint.contains("://*:") {
                throw ConfigurationError(origin: endpointSetting.origin,
                    message: "[\(name)] endpoint: '\(endpoint)' is a bind address; a ZMQHandler connects to the collector (e.g. tcp://logs:9020)")
            }
        }
        func integer(_ key: ZMQHandlerKey, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let setting = settings[key] else { return nil }
            guard let number = Int(setting.value.trimmingSpaces()), range.contains(number) else {
                throw ConfigurationError(origin: setting.origin,
                    message: "[\(name)] \(key.rawValue): expected an integer in \(range.lowerBound)...\(range.upperBound), not '\(setting.value)'")
            }
            return number
        }
        var publisherSettings = LogPublisher.Settings(endpoints: endpoints)
        if let queue = try integer(.queue, 1...1_000_000) { publisherSettings.queueLimit = queue }
        if let hwm = try integer(.hwm, 1...1_000_000) { publisherSettings.hwm = Int32(hwm) }
        if let linger = try integer(.linger, 0...60_000) { publisherSettings.linger = .milliseconds(linger) }
        if let interval = try integer(.reconnectIvl, 1...600_000) { publisherSettings.reconnectInterval = Int32(interval) }

        // CURVE: the same key files, and the same checks, as a channel's.
        var curveSettings: [String: SecuritySettings.Setting] = [:]
        for key in [ZMQHandlerKey.curveSecretKeyFile, .curvePublicKeyFile, .curveServerPublicKeyFile] {
            if let setting = settings[key] {
                curveSettings[key.rawValue] = SecuritySettings.Setting(value: setting.value, origin: setting.origin, base: setting.base)
            }
        }
        if !curveSettings.isEmpty {
            var loader = SecuritySettings.Loader()
            let material = try loader.build(curveSettings)
            guard let pair = material.keyPair else {
                throw ConfigurationError(origin: curveSettings.values.first!.origin,
                    message: "[\(name)] CURVE needs curve_secret_key_file (this handler's key pair) too")
            }
            guard let serverKey = material.serverKey else {
                throw ConfigurationError(origin: curveSettings.values.first!.origin,
                    message: "[\(name)] CURVE needs curve_server_public_key_file (the collector's public key) too")
            }
            publisherSettings.curve = LogPublisher.Settings.Curve(keyPair: pair, serverKey: serverKey)
        }
        return LogPublisher(name: handlerKey, settings: publisherSettings)
    }
}

import ZDaemon
import ZDaemonSecurity
import INIFormat

/// Reads the CURVE part of a daemon process's configuration: which key files each channel
/// uses, from the INI file, the environment and `--set`, and loads them (a bad file is a
/// ``ConfigurationError`` naming where it was set, so the process exits with 78).
///
/// Keys (the same everywhere):
/// - `curve_secret_key_file`: this side's secret certificate (`<name>.key_secret`, mode 0600)
/// - `curve_public_key_file`: optional, its public certificate (checked against the secret)
/// - `curve_server_public_key_file`: client side, the server's public certificate
/// - `curve_allow_dir`: server side, a directory of client public certificates (the allow-list)
/// - `curve_allow_any = true`: server side, accept any CURVE client (encryption only)
/// - `allow_ips`, `deny_ips`: server side, comma-separated addresses or IPv4 CIDR blocks
///
/// Places, most specific last (per key: command line > environment > INI):
/// `[run:security]` (every channel of every daemon), `[run:<Daemon>.<channel>]` (`*` for any
/// daemon with that channel); `ZGEN_SECURITY_<KEY>` and `ZGEN_<DAEMON>_<CHANNEL>_<KEY>`;
/// `--set security.<key>=…` and `--set <Daemon>.<channel>.<key>=…`. Relative paths in the INI
/// file are relative to the file's directory; elsewhere to the working directory.
public enum SecuritySettings {
    /// The keys this reader owns (the channel-override reader skips them).
    public static let keys: [String] = SecurityKey.allCases.map(\.rawValue)

    /// The `[run:<name>]` section of the daemon-wide defaults.
    public static let sectionName = SecurityKey.sectionName

    struct Setting {
        var value: String
        var origin: String
        /// Directory relative paths are resolved against (`nil` = working directory).
        var base: String?

        var path: String {
            guard let base, !value.hasPrefix("/") else { return value }
            return base + "/" + value
        }
    }

    /// The environment variable of a daemon-wide key: `ZGEN_SECURITY_CURVE_SECRET_KEY_FILE`.
    public static func environmentName(key: String) -> String { "ZGEN_SECURITY_\(key.uppercased())" }

    /// Every daemon's ``SecurityConfiguration`` (only daemons for which something is set).
    public static func read(
        document: INIDocument, path: String, specs: [DaemonSpec], environment: [String: String] = [:],
        assignments: [String] = []
    ) throws(ConfigurationError) -> [String: SecurityConfiguration] {
        var defaults: [String: Setting] = [:]
        var channels: [String: [String: [String: Setting]]] = [:]  // daemon → channel → key
        let directory: String? = {
            guard let slash = path.lastIndex(of: "/") else { return nil }
            let dir = String(path[..<slash])
            return dir.isEmpty ? "/" : dir
        }()

        func checkKey(_ key: String, origin: String) throws(ConfigurationError) {
            guard keys.contains(key) else {
                throw ConfigurationError(origin: origin,
                    message: "unknown security key '\(key)' (expected \(keys.joined(separator: ", ")))")
            }
        }
        func setChannel(daemon: String, channel: String, key: String, _ setting: Setting) {
            for spec in specs where daemon == "*" || spec.name == daemon {
                guard spec.channels.contains(where: { $0.name == channel }) else { continue }
                channels[spec.name, default: [:]][channel, default: [:]][key] = setting
            }
        }

        // 1. INI.
        for section in document.sections where section.name.hasPrefix("run:") {
            let target = String(section.name.dropFirst(4))
            if target == sectionName {
                for entry in section.entries {
                    let origin = "\(path):\(entry.keyPosition)"
                    try checkKey(entry.key, origin: origin)
                    defaults[entry.key] = Setting(value: entry.value, origin: "\(path):\(entry.valuePosition)", base: directory)
                }
                continue
            }
            guard let dot = target.firstIndex(of: ".") else { continue }
            let daemon = String(target[..<dot])
            let channel = String(target[target.index(after: dot)...])
            for entry in section.entries where keys.contains(entry.key) {
                setChannel(daemon: daemon, channel: channel, key: entry.key,
                           Setting(value: entry.value, origin: "\(path):\(entry.valuePosition)", base: directory))
            }
        }
        // 2. Environment.
        for key in keys {
            let name = environmentName(key: key)
            if let value = environment[name] {
                defaults[key] = Setting(value: value, origin: "environment variable \(name)", base: nil)
            }
        }
        for spec in specs {
            for channel in spec.channels {
                for key in keys {
                    let name = RuntimeConfiguration.environmentName(daemon: spec.name, channel: channel.name, key: key)
                    if let value = environment[name] {
                        setChannel(daemon: spec.name, channel: channel.name, key: key,
                                   Setting(value: value, origin: "environment variable \(name)", base: nil))
                    }
                }
            }
        }
        // 3. Command line.
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            let parts = assignment[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let setting = Setting(value: String(assignment[assignment.index(after: equals)...]),
                                  origin: "--set \(assignment)", base: nil)
            if parts.count == 2, parts[0] == sectionName {
                try checkKey(parts[1], origin: setting.origin)
                defaults[parts[1]] = setting
            } else if parts.count == 3, keys.contains(parts[2]) {
                setChannel(daemon: parts[0], channel: parts[1], key: parts[2], setting)
            }
        }

        // Load: each file once, whoever names it.
        var loader = Loader()
        let defaultSecurity = try loader.build(defaults)
        var result: [String: SecurityConfiguration] = [:]
        for spec in specs {
            let perChannel = channels[spec.name] ?? [:]
            guard !defaults.isEmpty || !perChannel.isEmpty else { continue }
            var configuration = SecurityConfiguration(defaults: defaultSecurity)
            for (channel, settings) in perChannel {
                configuration.channels[channel] = try loader.build(defaults.merging(settings) { $1 })
            }
            result[spec.name] = configuration
        }
        return result
    }

    /// Loads key files (once per path) and builds channel security from settings.
    struct Loader {
        private var pairs: [String: CurveKeyPair] = [:]
        private var publicKeys: [String: CurveKey] = [:]
        private var allowLists: [String: [CurveKey]] = [:]

        private func fail(_ setting: Setting, _ key: String, _ error: some Error) -> ConfigurationError {
            ConfigurationError(origin: setting.origin, message: "\(key): \(error)")
        }

        mutating func keyPair(_ setting: Setting) throws(ConfigurationError) -> CurveKeyPair {
            if let pair = pairs[setting.path] { return pair }
            do {
                let pair = try CurveKeyFile.readKeyPair(path: setting.path)
                pairs[setting.path] = pair
                return pair
            } catch {
                throw fail(setting, "curve_secret_key_file", error)
            }
        }

        mutating func publicKey(_ setting: Setting, key: String) throws(ConfigurationError) -> CurveKey {
            if let found = publicKeys[setting.path] { return found }
            do {
                let found = try CurveKeyFile.readPublicKey(path: setting.path)
                publicKeys[setting.path] = found
                return found
            } catch {
                throw fail(setting, key, error)
            }
        }

        mutating func allowList(_ setting: Setting) throws(ConfigurationError) -> [CurveKey] {
            if let found = allowLists[setting.path] { return found }
            do {
                let found = try CurveKeyFile.readPublicKeys(directory: setting.path)
                allowLists[setting.path] = found
                return found
            } catch {
                throw fail(setting, "curve_allow_dir", error)
            }
        }

        mutating func build(_ settings: [String: Setting]) throws(ConfigurationError) -> CurveChannelSecurity {
            var security = CurveChannelSecurity()
            if let setting = settings["curve_secret_key_file"] {
                security.keyPair = try keyPair(setting)
            }
            if let setting = settings["curve_public_key_file"] {
                let declared = try publicKey(setting, key: "curve_public_key_file")
                guard let pair = security.keyPair else {
                    throw ConfigurationError(origin: setting.origin,
                        message: "curve_public_key_file: needs curve_secret_key_file too (the pair's secret half)")
                }
                guard pair.publicKey == declared else {
                    throw ConfigurationError(origin: setting.origin, message:
                        "curve_public_key_file: \(setting.path) is not the public key of curve_secret_key_file")
                }
            }
            if let setting = settings["curve_server_public_key_file"] {
                security.serverKey = try publicKey(setting, key: "curve_server_public_key_file")
            }
            var allowAny = false
            if let setting = settings["curve_allow_any"] {
                guard let value = RuntimeConfiguration.bool(setting.value.trimmingSpaces()) else {
                    throw ConfigurationError(origin: setting.origin,
                        message: "curve_allow_any: expected true or false, not '\(setting.value)'")
                }
                allowAny = value
            }
            var allowed: [CurveKey]?
            if let setting = settings["curve_allow_dir"] { allowed = try allowList(setting) }
            func list(_ key: String) -> [String] {
                guard let setting = settings[key] else { return [] }
                return setting.value.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            }
            if allowAny || allowed != nil {
                do {
                    security.policy = try ZAPPolicy(allowedKeys: allowed ?? [], allowAnyClient: allowAny,
                                                    allowIPs: list("allow_ips"), denyIPs: list("deny_ips"))
                } catch {
                    let key = (try? ZAPPolicy(allowIPs: list("allow_ips"))) == nil ? "allow_ips" : "deny_ips"
                    throw ConfigurationError(origin: settings[key]?.origin ?? "", message: "\(key): \(error)")
                }
            } else if let setting = settings["allow_ips"] ?? settings["deny_ips"] {
                // Checked anyway; without a key policy the server's start-up names what is missing.
                do {
                    _ = try ZAPPolicy(allowIPs: list("allow_ips"), denyIPs: list("deny_ips"))
                } catch {
                    throw ConfigurationError(origin: setting.origin, message: "\(error)")
                }
            }
            return security
        }
    }
}

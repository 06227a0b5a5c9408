import ZGenVocabulary

/// A parsed ZeroMQ endpoint.
enum Endpoint: Hashable {
    case tcp(host: String, port: String)
    case ipc(path: String)
    case inproc(name: String)

    static let transports = ["tcp", "ipc", "inproc"]

    /// Parses `tcp://host:port`, `ipc://path` or `inproc://name`; nil if malformed.
    static func parse(_ text: String) -> Endpoint? {
        guard let (transport, address) = split(text) else { return nil }
        switch transport {
        case "tcp":
            guard let colon = address.lastIndex(of: ":") else { return nil }
            var host = String(address[..<colon])
            let port = String(address[address.index(after: colon)...])
            if host.hasPrefix("[") && host.hasSuffix("]") && host.count >= 2 { host = String(host.dropFirst().dropLast()) }
            return .tcp(host: host, port: port)
        case "ipc": return .ipc(path: address)
        case "inproc": return .inproc(name: address)
        default: return nil
        }
    }

    /// `transport://address` split at the first `://`.
    static func split(_ text: String) -> (String, String)? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count >= 3 else { return nil }
        for i in 0...(scalars.count - 3) where scalars[i] == ":" && scalars[i + 1] == "/" && scalars[i + 2] == "/" {
            var transport = String.UnicodeScalarView()
            transport.append(contentsOf: scalars[..<i])
            var address = String.UnicodeScalarView()
            address.append(contentsOf: scalars[(i + 3)...])
            return (String(transport), String(address))
        }
        return nil
    }

    /// What is wrong with an endpoint, or nil.
    static func problem(_ text: String, bind: Bool) -> String? {
        guard let (transport, address) = split(text) else {
            return "endpoint `\(text)` needs a transport: `tcp://`, `ipc://` or `inproc://`"
        }
        guard transports.contains(transport) else {
            return "unsupported transport `\(transport)` in `\(text)`; zgen knows tcp, ipc and inproc"
                + Suggestion.didYouMean(transport, in: transports)
        }
        switch parse(text) {
        case .tcp(let host, let port):
            if host.isEmpty {
                return address.contains(":") ? "endpoint `\(text)` has no host" : "endpoint `\(text)` needs `host:port`"
            }
            if host.contains(";") {
                return "endpoint `\(text)`: a source address (`src;host:port`) is not supported"
            }
            if host == "*" && !bind {
                return "`*` in `\(text)` means every interface, which only a bind can use; connect to a host such as localhost"
            }
            let hostOK = host == "*" || host.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == ":" || $0 == "_" || $0 == "%"
            }
            if !hostOK { return "endpoint `\(text)` has an invalid host `\(host)`" }
            if port == "*" || port == "0" {
                return bind ? nil : "port `\(port)` in `\(text)` (any free port) only works when binding"
            }
            guard let number = Int(port), (1...65535).contains(number), port.first != "+" else {
                return "endpoint `\(text)` has an invalid port `\(port)` (1 to 65535)"
            }
            return nil
        case .ipc(let path):
            if path.isEmpty { return "endpoint `\(text)` has no path" }
            if path == "*" && !bind { return "`ipc://*` (a fresh path) only works when binding" }
            if path.utf8.count > 107 { return "ipc path in `\(text)` is longer than 107 bytes, the limit of a Unix socket address" }
            return nil
        case .inproc(let name):
            return name.isEmpty ? "endpoint `\(text)` has no name" : nil
        case nil:
            return "endpoint `\(text)` needs `host:port`"
        }
    }

    /// Endpoints that may meet share a bucket: tcp by port, ipc by path, inproc by name.
    var bucket: String {
        switch self {
        case .tcp(_, let port): return "tcp:" + port
        case .ipc(let path): return "ipc:" + path
        case .inproc(let name): return "inproc:" + name
        }
    }

    /// Names of the local host that a bind to every interface (`*`, `0.0.0.0`) serves.
    static let localHosts: Set<String> = ["localhost", "127.0.0.1", "::1", "*", "0.0.0.0", "::", "ip6-localhost"]

    /// Whether a connect to `self` reaches a bind of `bound`.
    func isReached(byBindOf bound: Endpoint) -> Bool {
        switch (self, bound) {
        case (.tcp(let host, let port), .tcp(let boundHost, let boundPort)):
            guard port == boundPort, port != "*", port != "0" else { return false }
            if boundHost == "*" || boundHost == "0.0.0.0" || boundHost == "::" { return Endpoint.localHosts.contains(host) }
            return Endpoint.sameHost(host, boundHost)
        case (.ipc(let path), .ipc(let boundPath)): return path == boundPath && path != "*"
        case (.inproc(let name), .inproc(let boundName)): return name == boundName
        default: return false
        }
    }

    /// Whether two binds would fight over the same address.
    func clashes(withBindOf other: Endpoint) -> Bool {
        switch (self, other) {
        case (.tcp(let host, let port), .tcp(let otherHost, let otherPort)):
            guard port == otherPort, port != "*", port != "0" else { return false }
            let any: Set<String> = ["*", "0.0.0.0", "::"]
            return any.contains(host) || any.contains(otherHost) || Endpoint.sameHost(host, otherHost)
        case (.ipc(let path), .ipc(let otherPath)): return path == otherPath && path != "*"
        case (.inproc(let name), .inproc(let otherName)): return name == otherName
        default: return false
        }
    }

    static func sameHost(_ a: String, _ b: String) -> Bool {
        let loopback: Set<String> = ["localhost", "127.0.0.1", "::1", "ip6-localhost"]
        return a == b || (loopback.contains(a) && loopback.contains(b))
    }
}

/// The whole-system check: connects meet binds of a compatible socket type carrying the same messages.
struct SystemCheck {
    let daemons: [Daemon]
    let endpoints: [[[SourceLocation]]]

    struct Site {
        var daemon: Int
        var channel: Int
        var text: String
        var endpoint: Endpoint
        var location: SourceLocation
    }

    /// Socket types that may talk to each other (unordered).
    static let pairs: Set<[SocketType]> = [
        [.push, .pull], [.pub, .sub], [.pub, .xsub], [.xpub, .sub], [.xpub, .xsub], [.req, .rep], [.req, .router],
        [.dealer, .router], [.dealer, .rep], [.dealer, .dealer], [.pair, .pair], [.router, .router],
    ]

    static func canPair(_ a: SocketType, _ b: SocketType) -> Bool {
        pairs.contains([a, b]) || pairs.contains([b, a])
    }

    static func partners(of socket: SocketType) -> [String] {
        SocketType.allCases.filter { canPair(socket, $0) }.map(\.rawValue)
    }

    func qualified(_ site: Site) -> String {
        "\(daemons[site.daemon].name).\(daemons[site.daemon].channels[site.channel].name)"
    }

    mutating func run(into diagnostics: inout DiagnosticCollector) {
        var binds: [Site] = []
        var connects: [Site] = []
        for (d, daemon) in daemons.enumerated() {
            for (c, channel) in daemon.channels.enumerated() {
                for (e, text) in channel.endpoints.enumerated() {
                    guard let endpoint = Endpoint.parse(text), d < endpoints.count, c < endpoints[d].count, e < endpoints[d][c].count else { continue }
                    let site = Site(daemon: d, channel: c, text: text, endpoint: endpoint, location: endpoints[d][c][e])
                    if channel.bind { binds.append(site) } else { connects.append(site) }
                }
            }
        }
        // Binds by port or path, so the checks stay linear however large the schema.
        var buckets: [String: [Int]] = [:]
        for (i, bind) in binds.enumerated() {
            let bucket = buckets[bind.endpoint.bucket, default: []]
            // Only the first few binds of a bucket are compared: one clash is enough to report.
            if let first = bucket.prefix(64).map({ binds[$0] }).first(where: { bind.endpoint.clashes(withBindOf: $0.endpoint) }) {
                diagnostics.error(
                    "`\(bind.text)` is already bound by `\(qualified(first))`", at: bind.location,
                    notes: [Diagnostic(.note, "`\(qualified(first))` binds `\(first.text)` here", at: first.location)])
            }
            buckets[bind.endpoint.bucket, default: []].append(i)
        }
        for connect in connects {
            let matches = (buckets[connect.endpoint.bucket] ?? []).prefix(64).map { binds[$0] }.filter {
                connect.endpoint.isReached(byBindOf: $0.endpoint)
            }
            guard !matches.isEmpty else {
                diagnostics.warning("no daemon in this schema binds `\(connect.text)`", at: connect.location)
                continue
            }
            let mine = daemons[connect.daemon].channels[connect.channel]
            for bind in matches {
                let theirs = daemons[bind.daemon].channels[bind.channel]
                let note = [Diagnostic(.note, "`\(qualified(bind))` binds `\(bind.text)` here", at: bind.location)]
                guard Self.canPair(mine.socket, theirs.socket) else {
                    diagnostics.error(
                        "a \(mine.socket.rawValue) channel cannot talk to the \(theirs.socket.rawValue) channel `\(qualified(bind))`; "
                            + "\(mine.socket.rawValue) pairs with \(Self.partners(of: mine.socket).joined(separator: ", "))",
                        at: connect.location, notes: note)
                    continue
                }
                // A request channel speaks the correlation layout: both ends must be one.
                if mine.isRequestChannel != theirs.isRequestChannel {
                    let (request, plain) = mine.isRequestChannel ? (connect, bind) : (bind, connect)
                    diagnostics.error(
                        "`\(qualified(request))` is a request channel (correlation id first) but `\(qualified(plain))` is not; "
                            + "give both `request` and `reply`", at: connect.location, notes: note)
                    continue
                }
                if mine.error != theirs.error, [.req, .rep, .dealer, .router].contains(mine.socket) {
                    diagnostics.error(
                        "`\(qualified(connect))` and `\(qualified(bind))` declare different errors "
                            + "(`\(mine.error ?? "none")`, `\(theirs.error ?? "none")`)", at: connect.location, notes: note)
                }
                if let sent = mine.send, let received = theirs.recv, sent != received {
                    diagnostics.error(
                        "`\(qualified(connect))` sends `\(sent)` but `\(qualified(bind))` receives `\(received)`", at: connect.location, notes: note)
                }
                if let received = mine.recv, let sent = theirs.send, sent != received {
                    diagnostics.error(
                        "`\(qualified(connect))` receives `\(received)` but `\(qualified(bind))` sends `\(sent)`", at: connect.location, notes: note)
                }
            }
        }
    }
}

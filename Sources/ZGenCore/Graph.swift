import ZGenVocabulary

/// Topology pictures of a schema for review: `zgen --graph mermaid|dot <schema>`.
///
/// Daemons are nodes. Every channel endpoint is an edge: where one daemon connects to an endpoint
/// another binds (the same matching as the whole-system check), the two channels make one edge
/// between the two daemons, pointing the way messages flow; a two-way edge (REQ/REP,
/// DEALER/ROUTER, PAIR and the like) has arrows at both ends and starts at the side that asks. An
/// endpoint nobody in the schema binds or connects to becomes a dashed node of its own, joined by
/// a dotted edge. Each edge is labelled with its channel name(s), the
/// socket types with `(bind)` or `(connect)`, the endpoint(s) and the message type(s). The
/// output depends only on the schema, in source order, so a test can pin it and a pull request
/// shows a readable change.
public enum TopologyGraph {
    /// The picture languages zgen writes.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// A Mermaid flowchart (GitHub renders a ```` ```mermaid ```` block in Markdown).
        case mermaid
        /// A Graphviz digraph (`dot -Tsvg`).
        case dot
    }

    /// Draws a schema's topology in `format`, ending with a newline.
    public static func render(_ schema: Schema, format: Format) -> String {
        let topology = Topology(schema)
        switch format {
        case .mermaid: return mermaid(topology, app: schema.app)
        case .dot: return dot(topology, app: schema.app)
        }
    }

    // MARK: - The topology, independent of the picture language

    /// One end of an edge: a daemon's channel at one endpoint.
    struct Site {
        var daemon: Int
        var channel: Channel
        var endpoint: String
    }

    /// A node of the picture: a daemon, or an endpoint outside the schema.
    enum NodeReference: Equatable {
        case daemon(Int)
        case endpoint(Int)
    }

    /// An edge, drawn in the direction messages flow (from the initiating side when both do).
    struct Edge {
        var from: NodeReference
        var to: NodeReference
        /// Messages flow from → to.
        var forward: Bool
        /// Messages also flow to → from.
        var backward: Bool
        /// Whether the far end is outside the schema.
        var isExternal: Bool
        /// Label lines.
        var label: [String]
    }

    struct Topology {
        var daemons: [(id: String, name: String, title: String)] = []
        var externals: [(endpoint: String, bound: Bool)] = []
        var edges: [Edge] = []

        init(_ schema: Schema) {
            var usedIDs: Set<String> = []
            for (index, daemon) in schema.daemons.enumerated() {
                var id = String(daemon.typeName.unicodeScalars.filter { TopologyGraph.isIDCharacter($0) })
                if id.isEmpty || usedIDs.contains(id) || id.lowercased() == "end" { id = "daemon\(index)" }
                usedIDs.insert(id)
                daemons.append((id, daemon.name, daemon.title))
            }

            var binds: [Site] = []
            var connects: [Site] = []
            for (index, daemon) in schema.daemons.enumerated() {
                for channel in daemon.channels {
                    for endpoint in channel.endpoints {
                        let site = Site(daemon: index, channel: channel, endpoint: endpoint)
                        if channel.bind { binds.append(site) } else { connects.append(site) }
                    }
                }
            }
            func reaches(_ connect: Site, _ bind: Site) -> Bool {
                guard let to = Endpoint.parse(connect.endpoint), let bound = Endpoint.parse(bind.endpoint) else {
                    return connect.endpoint == bind.endpoint
                }
                return to.isReached(byBindOf: bound)
            }

            // Walk the sites in source order so the picture follows the schema.
            var connectMatched = Array(repeating: false, count: connects.count)
            var bindIndex = 0
            var connectIndex = 0
            for daemon in schema.daemons {
                for channel in daemon.channels {
                    for _ in channel.endpoints {
                        if channel.bind {
                            let bind = binds[bindIndex]
                            bindIndex += 1
                            let peers = connects.indices.filter { reaches(connects[$0], bind) }
                            for peer in peers {
                                connectMatched[peer] = true
                                edges.append(Self.edge(bind, connects[peer]))
                            }
                            if peers.isEmpty { edges.append(external(bind)) }
                        } else {
                            let connect = connects[connectIndex]
                            connectIndex += 1
                            if !binds.contains(where: { reaches(connect, $0) }) { edges.append(external(connect)) }
                        }
                    }
                }
            }
        }

        /// Socket types that start a conversation: a two-way edge is drawn from them.
        static let initiators: Set<SocketType> = [.req, .dealer]

        /// The edge between a bind and a connect that reaches it.
        static func edge(_ bind: Site, _ connect: Site) -> Edge {
            let bindToConnect = bind.channel.send != nil && connect.channel.recv != nil
            let connectToBind = connect.channel.send != nil && bind.channel.recv != nil
            // One way: from the sender. Both ways: from the side that asks first (REQ, DEALER),
            // else from the bind. Neither: from the bind.
            let fromBind: Bool
            if bindToConnect != connectToBind {
                fromBind = bindToConnect
            } else {
                fromBind = !(initiators.contains(connect.channel.socket) && !initiators.contains(bind.channel.socket))
            }
            let (from, to) = fromBind ? (bind, connect) : (connect, bind)
            let forward = fromBind ? bindToConnect : connectToBind
            let backward = fromBind ? connectToBind : bindToConnect

            let names = from.channel.name == to.channel.name ? from.channel.name : "\(from.channel.name) / \(to.channel.name)"
            let arrow = forward && backward ? "↔" : (forward || backward ? "→" : "—")
            let sockets = "\(socket(from)) \(arrow) \(socket(to))"
            let endpoints = from.endpoint == to.endpoint ? from.endpoint : "\(from.endpoint) / \(to.endpoint)"
            var messages: [String] = []
            if forward, let type = from.channel.send { messages.append(type) }
            if backward, let type = to.channel.send, !messages.contains(type) { messages.append(type) }
            return Edge(
                from: .daemon(from.daemon), to: .daemon(to.daemon), forward: forward, backward: backward, isExternal: false,
                label: [names, sockets, endpoints] + (messages.isEmpty ? [] : [messages.joined(separator: " / ")])
            )
        }

        /// An edge between a daemon's channel and an endpoint no other daemon of the schema uses,
        /// drawn towards the daemon when the channel only receives.
        mutating func external(_ site: Site) -> Edge {
            // Daemons connecting to the same outside endpoint share its node; every bind gets its
            // own (two binds of one address are a schema error, and `*` ports are all different).
            let index: Int
            if !site.channel.bind, let existing = externals.firstIndex(where: { !$0.bound && $0.endpoint == site.endpoint }) {
                index = existing
            } else {
                externals.append((site.endpoint, site.channel.bind))
                index = externals.count - 1
            }
            let sends = site.channel.send != nil
            let receives = site.channel.recv != nil
            var messages: [String] = []
            if let type = site.channel.send { messages.append(type) }
            if let type = site.channel.recv, !messages.contains(type) { messages.append(type) }
            let label = [site.channel.name, Self.socket(site)] + (messages.isEmpty ? [] : [messages.joined(separator: " / ")])
            if receives && !sends {
                return Edge(from: .endpoint(index), to: .daemon(site.daemon), forward: true, backward: false, isExternal: true, label: label)
            }
            return Edge(from: .daemon(site.daemon), to: .endpoint(index), forward: sends, backward: receives, isExternal: true, label: label)
        }

        /// The node's identifier in the picture.
        func id(_ node: NodeReference) -> String {
            switch node {
            case .daemon(let index): return daemons[index].id
            case .endpoint(let index): return "endpoint\(index)"
            }
        }

        static func socket(_ site: Site) -> String {
            "\(site.channel.socket.rawValue) (\(site.channel.bind ? "bind" : "connect"))"
        }
    }

    static func isIDCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_"
    }

    // MARK: - Mermaid

    static func mermaid(_ topology: Topology, app: String) -> String {
        func text(_ string: String) -> String {
            var escaped = ""
            for character in string {
                switch character {
                case "\"": escaped += "#quot;"
                case "<": escaped += "#lt;"
                case ">": escaped += "#gt;"
                default: escaped.append(character)
                }
            }
            return escaped
        }
        var lines = ["flowchart LR", "    %% Topology of \(text(app)), drawn by zgen --graph mermaid"]
        for daemon in topology.daemons {
            lines.append("    \(daemon.id)[\"\(text(daemon.name))<br/>\(text(daemon.title))\"]")
        }
        for (index, (endpoint, _)) in topology.externals.enumerated() {
            lines.append("    endpoint\(index)([\"\(text(endpoint))\"])")
        }
        for edge in topology.edges {
            let label = edge.label.map(text).joined(separator: "<br/>")
            let dotted = edge.isExternal
            let arrow: String
            switch (edge.forward, edge.backward) {
            case (true, true): arrow = dotted ? "<-.->" : "<-->"
            case (true, false): arrow = dotted ? "-.->" : "-->"
            default: arrow = dotted ? "-.-" : "---"
            }
            lines.append("    \(topology.id(edge.from)) \(arrow)|\"\(label)\"| \(topology.id(edge.to))")
        }
        if !topology.externals.isEmpty {
            lines.append("    classDef outside stroke-dasharray: 4 4")
            lines.append("    class " + topology.externals.indices.map { "endpoint\($0)" }.joined(separator: ",") + " outside")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Graphviz

    static func dot(_ topology: Topology, app: String) -> String {
        func quoted(_ string: String) -> String {
            var escaped = "\""
            for character in string {
                switch character {
                case "\"": escaped += "\\\""
                case "\\": escaped += "\\\\"
                case "\n": escaped += "\\n"
                default: escaped.append(character)
                }
            }
            return escaped + "\""
        }
        var lines = [
            "// Topology of \(app), drawn by zgen --graph dot",
            "digraph \(quoted(app)) {",
            "    rankdir=LR;",
            "    node [shape=box, style=rounded];",
            "    edge [fontsize=10];",
        ]
        for daemon in topology.daemons {
            lines.append("    \(quoted(daemon.id)) [label=\(quoted(daemon.name + "\n" + daemon.title))];")
        }
        for (index, (endpoint, _)) in topology.externals.enumerated() {
            lines.append("    \(quoted("endpoint\(index)")) [label=\(quoted(endpoint)), style=\"rounded,dashed\"];")
        }
        for edge in topology.edges {
            var attributes = ["label=\(quoted(edge.label.joined(separator: "\n")))"]
            switch (edge.forward, edge.backward) {
            case (true, true): attributes.append("dir=both")
            case (true, false): break
            default: attributes.append("dir=none")
            }
            if edge.isExternal { attributes.append("style=dashed") }
            lines.append("    \(quoted(topology.id(edge.from))) -> \(quoted(topology.id(edge.to))) [\(attributes.joined(separator: ", "))];")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}

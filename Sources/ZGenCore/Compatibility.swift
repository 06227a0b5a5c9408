import ZGenVocabulary

/// Where a schema declares its messages, frames and channels: what the breaking-change check
/// points at in the new schema.
struct SchemaLocations: Sendable {
    /// By message name.
    var messages: [String: SourceLocation] = [:]
    /// By `<message>#<index>`.
    var frames: [String: SourceLocation] = [:]
    /// By `<daemon>` (the daemon's key), `<daemon>.<channel>` (the channel's key) and
    /// `<daemon>.<channel>.<key>` (a key's value).
    var channels: [String: SourceLocation] = [:]
}

/// `zgen NEW --breaking-against OLD`: what a schema change does to peers already deployed with
/// the old schema, while a system is upgraded one daemon at a time (README "Changing a schema").
///
/// Frames are matched by position and messages by name (or the new message's `renamedFrom`);
/// channels by daemon and channel name. An error is a change that breaks the wire or the
/// topology for some pair of old and new peers; a warning is compatible but risky.
public enum CompatibilityCheck {
    /// Parses both schemas and compares them. The diagnostics point into the new schema; the
    /// old schema's own problems are reported as they are (and nothing is compared).
    public static func check(newSchemaAt newPath: String, contents newContents: [UInt8],
                             oldSchemaAt oldPath: String, contents oldContents: [UInt8]) -> (new: [Diagnostic], old: [Diagnostic]) {
        let new = ZGen.parseLocated(schemaAt: newPath, contents: newContents)
        let old = ZGen.parseLocated(schemaAt: oldPath, contents: oldContents)
        guard let newSchema = new.schema, let oldSchema = old.schema else { return (new.diagnostics, old.diagnostics) }
        var collector = DiagnosticCollector()
        for diagnostic in new.diagnostics { collector.append(diagnostic) }
        compare(old: oldSchema, new: newSchema, locations: new.locations, into: &collector)
        return (collector.sorted, old.diagnostics)
    }

    static func compare(old: Schema, new: Schema, locations: SchemaLocations, into out: inout DiagnosticCollector) {
        // The new message each old one became (same name, or renamed from it).
        func counterpart(of oldName: String) -> Message? {
            new.messages.first { $0.renamedFrom == oldName } ?? new.message(named: oldName)
        }
        for oldMessage in old.messages {
            guard let newMessage = counterpart(of: oldMessage.name) else { continue }  // unused ones are the channels' business
            compareFrames(old: oldMessage, new: newMessage, locations: locations, into: &out)
        }
        for oldDaemon in old.daemons {
            let newDaemon = new.daemons.first { $0.name == oldDaemon.name }
            for oldChannel in oldDaemon.channels {
                guard let newDaemon, let newChannel = newDaemon.channels.first(where: { $0.name == oldChannel.name }) else {
                    out.error("channel `\(oldDaemon.name).\(oldChannel.name)` (\(oldChannel.socket.rawValue)) was removed: its peers with the old schema lose it",
                              at: locations.channels[oldDaemon.name] ?? .start)
                    continue
                }
                compareChannel(old: oldChannel, new: newChannel, daemon: oldDaemon.name, oldSchema: old, counterpart: counterpart,
                               locations: locations, into: &out)
            }
        }
    }

    static func describe(_ frame: Frame) -> String {
        var text = frame.type == .json ? "json(\(frame.swiftType ?? ""))" : frame.type.rawValue
        if frame.repeated { text += "*" }
        return text
    }

    static func compareFrames(old: Message, new: Message, locations: SchemaLocations, into out: inout DiagnosticCollector) {
        let messageLocation = locations.messages[new.name] ?? .start
        let label = old.name == new.name ? "`\(new.name)`" : "`\(new.name)` (was `\(old.name)`)"
        for index in 0..<min(old.frames.count, new.frames.count) {
            let (was, now) = (old.frames[index], new.frames[index])
            let location = locations.frames["\(new.name)#\(index)"] ?? messageLocation
            if describe(was) != describe(now) {
                let moved = now.name != was.name ? old.frames.firstIndex { $0.name == now.name }.map { " (`\(now.name)` was frame \($0): frames were reordered)" } : nil
                out.error("frame \(index) of \(label) changed from `\(was.name)` \(describe(was)) to `\(now.name)` \(describe(now))\(moved ?? ""): "
                          + "peers with the old schema decode it as \(describe(was)) and drop the message", at: location)
            } else if was.name != now.name && now.renamedFrom != was.name {
                let moved = old.frames.firstIndex { $0.name == now.name }
                let why = moved.map { "`\(now.name)` moved from position \($0) to \(index), so old peers read each other's frames" }
                    ?? "if this is a rename, say so with `\"renamedFrom\": \"\(was.name)\"`; otherwise `\(was.name)` was removed and `\(now.name)` added in its place"
                out.error("frame \(index) of \(label) was `\(was.name)` and is now `\(now.name)`: \(why)", at: location)
            }
        }
        if new.frames.count < old.frames.count {
            for removed in old.frames[new.frames.count...] where !removed.repeated {
                if new.extraFrames == .ignore && removed.defaultValue != nil { continue }
                out.error("frame `\(removed.name)` was removed from \(label): senders with the old schema still send it "
                          + (new.extraFrames == .ignore ? "(ignored here), but receivers with the old schema require it"
                                                        : "and these receivers reject the extra frame"), at: messageLocation)
            }
        }
        if new.frames.count > old.frames.count {
            for index in old.frames.count..<new.frames.count {
                let added = new.frames[index]
                let location = locations.frames["\(new.name)#\(index)"] ?? messageLocation
                if old.frames.last?.repeated == true {
                    out.error("frame `\(added.name)` was added after the repeated frame of \(label): a repeated frame stays last", at: location)
                    continue
                }
                if added.repeated { continue }  // an empty repeated tail is what old senders send
                if added.defaultValue == nil {
                    out.error("required frame `\(added.name)` was added to \(label): senders with the old schema leave it out, and these receivers "
                              + "drop their messages; give it a `default`", at: location)
                }
                if old.extraFrames == .reject {
                    out.error("frame `\(added.name)` was added to \(label), whose old version rejects extra frames: receivers with the old schema "
                              + "drop every message from these senders; first roll out `\"extraFrames\": \"ignore\"`, then add the frame", at: location)
                }
            }
        }
        if old.extraFrames == .ignore && new.extraFrames == .reject {
            out.warning("\(label) rejects extra frames again: messages from senders whose schema added frames will be dropped", at: messageLocation)
        }
    }

    static func compareChannel(old: Channel, new: Channel, daemon: String, oldSchema: Schema, counterpart: (String) -> Message?,
                               locations: SchemaLocations, into out: inout DiagnosticCollector) {
        let name = "\(daemon).\(new.name)"
        let channelLocation = locations.channels[name] ?? .start
        func at(_ keys: String...) -> SourceLocation {
            keys.lazy.compactMap { locations.channels["\(name).\($0)"] }.first ?? channelLocation
        }
        for (direction, was, now, keys) in [("sends", old.send, new.send, ["send", "message", "request", "reply"]),
                                            ("receives", old.recv, new.recv, ["recv", "message", "request", "reply"])] {
            guard was != now else { continue }
            if let was, let now, counterpart(was)?.name == now { continue }  // a declared rename
            let location = keys.lazy.compactMap { locations.channels["\(name).\($0)"] }.first ?? channelLocation
            out.error("channel `\(name)` \(direction) `\(now ?? "nothing")` instead of `\(was ?? "nothing")`: its peers with the old schema "
                      + "cannot decode what it sends or send what it takes", at: location)
        }
        if old.socket != new.socket {
            // Peers: channels of other daemons that share an endpoint with this one in the old schema.
            func linked(_ a: Channel, _ b: Channel) -> Bool {
                guard a.bind != b.bind else { return false }
                let (connecting, binding) = a.bind ? (b, a) : (a, b)
                return connecting.endpoints.contains { text in
                    guard let endpoint = Endpoint.parse(text) else { return false }
                    return binding.endpoints.contains { Endpoint.parse($0).map(endpoint.isReached(byBindOf:)) == true }
                }
            }
            let peers = oldSchema.daemons.filter { $0.name != daemon }.flatMap { peer in
                peer.channels.filter { linked(old, $0) }.map { (peer.name, $0) }
            }
            let broken = peers.filter { !SystemCheck.canPair(new.socket, $0.1.socket) }
            if broken.isEmpty {
                out.warning("channel `\(name)` changed from \(old.socket.rawValue) to \(new.socket.rawValue); it still pairs with its peers", at: at("socket"))
            } else {
                let names = broken.map { "`\($0.0).\($0.1.name)` (\($0.1.socket.rawValue))" }.joined(separator: ", ")
                out.error("channel `\(name)` changed from \(old.socket.rawValue) to \(new.socket.rawValue), which does not pair with \(names)",
                          at: at("socket"))
            }
        }
        if old.bind != new.bind {
            out.error("channel `\(name)` now \(new.bind ? "binds" : "connects") where it \(old.bind ? "bound" : "connected"): while its peers "
                      + "still run the old schema, both ends \(new.bind ? "bind and neither connects" : "connect and neither binds")",
                      at: at("bind", "endpoint"))
        } else if old.endpoints != new.endpoints {
            let dropped = old.endpoints.filter { !new.endpoints.contains($0) }
            if new.bind && !dropped.isEmpty {
                out.error("channel `\(name)` no longer binds \(dropped.map { "`\($0)`" }.joined(separator: ", ")): peers with the old schema still "
                          + "connect there; bind the old and the new endpoint for a while", at: at("endpoint"))
            } else if !new.bind {
                out.warning("channel `\(name)` connects to \(new.endpoints.joined(separator: ", ")) instead of \(old.endpoints.joined(separator: ", ")): "
                            + "it reaches only peers that already bind there", at: at("endpoint"))
            }
        }
        if new.hwm * 2 <= old.hwm && new.hwm > 0 {
            out.warning("channel `\(name)`: hwm lowered from \(old.hwm) to \(new.hwm): bursts that fitted may now be refused or dropped", at: at("hwm"))
        }
    }
}

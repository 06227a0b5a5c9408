import ZGenVocabulary

/// The two forms a schema is written in.
public enum SchemaForm: String, Sendable, Hashable {
    /// `*.json`: one JSON object.
    case json
    /// `*.ini`: `[zgen]`, `[message:…]`, `[daemon:…]` and `[channel:…]` sections.
    case ini
}

/// Checks a positioned schema tree and builds the model, collecting every problem.
struct Validator {
    var diagnostics: DiagnosticCollector
    let form: SchemaForm

    init(form: SchemaForm, diagnostics: DiagnosticCollector = DiagnosticCollector()) {
        self.form = form
        self.diagnostics = diagnostics
    }

    // MARK: Keys

    static let rootKeysJSON = ["$schema", "zgen", "app", "imports", "description", "messages", "daemons"]
    static let rootKeysINI = ["version", "app", "imports", "description"]
    static let messageKeys = ["description", "frames", "extraFrames", "renamedFrom"]
    static let frameKeys = ["name", "type", "swiftType", "repeated", "description", "default", "renamedFrom"]
    static let daemonKeys = ["title", "description", "instances", "channels"]
    static let channelKeys = [
        "socket", "endpoint", "bind", "subscribe", "message", "send", "recv", "request", "reply", "error", "handler", "stream", "borrow", "sender", "hwm", "queue", "linger",
        "timeout", "drainedBy", "drains", "options", "security", "curveServer", "description",
    ]
    static let optionKeys = ChannelOption.allCases.map(\.schemaKey)

    /// What to say about a JSON-form key written in an INI section.
    static let iniHints = [
        "zgen": "; the INI form calls it `version`",
        "messages": "; in INI, each message is a [message:<Name>] section",
        "daemons": "; in INI, each daemon is a [daemon:<Name>] section",
        "channels": "; in INI, each channel is a [channel:<daemon>.<name>] section",
    ]

    /// Container keys: written as such in JSON; made up by the INI reader (in brackets, so no INI key can clash).
    func container(_ key: String) -> String { form == .json ? key : "[\(key)]" }

    /// The key that holds the format version.
    var versionKey: String { form == .json ? "zgen" : "version" }

    /// Where an INI key lives, for messages about missing keys.
    func inSection(_ section: String) -> String { form == .ini ? " in [\(section)]" : "" }

    // MARK: Value access

    /// The members of an object, first occurrence of each key; reports unknown and repeated keys.
    mutating func object(_ node: Node, _ what: String, known: [String]) -> [String: Node.Member]? {
        guard let members = node.members else {
            diagnostics.error("\(what) must be an object, not \(node.kindDescription)", at: node.location)
            return nil
        }
        var result: [String: Node.Member] = [:]
        for member in members {
            if let first = result[member.key] {
                diagnostics.error(
                    "duplicate key `\(member.key)`", at: member.keyLocation,
                    notes: [Diagnostic(.note, "`\(member.key)` first set here", at: first.keyLocation)])
                continue
            }
            guard known.contains(member.key) else {
                var hint = Suggestion.didYouMean(member.key, in: known.filter { !$0.hasPrefix("[") })
                if form == .ini, let iniHint = Self.iniHints[member.key] { hint = iniHint }
                diagnostics.error("unknown key `\(member.key)` in \(what)" + hint, at: member.keyLocation)
                continue
            }
            result[member.key] = member
        }
        return result
    }

    mutating func string(_ member: Node.Member) -> String? {
        switch member.value.value {
        case .string(let text), .text(let text, _, _): return text
        default:
            diagnostics.error("`\(member.key)` must be a string, not \(member.value.kindDescription)", at: member.value.location)
            return nil
        }
    }

    mutating func bool(_ member: Node.Member) -> Bool? {
        switch member.value.value {
        case .bool(let value): return value
        case .text("true", _, _): return true
        case .text("false", _, _): return false
        default:
            diagnostics.error("`\(member.key)` must be true or false, not \(member.value.kindDescription)", at: member.value.location)
            return nil
        }
    }

    mutating func integer(_ member: Node.Member, in range: ClosedRange<Int>) -> Int? {
        let text: String
        switch member.value.value {
        case .number(let number): text = number
        case .text(let value, _, _): text = value
        default:
            diagnostics.error("`\(member.key)` must be an integer, not \(member.value.kindDescription)", at: member.value.location)
            return nil
        }
        guard let value = Int(text) else {
            let shown = form == .json ? text : member.value.kindDescription
            diagnostics.error("`\(member.key)` must be an integer, not \(shown)", at: member.value.location)
            return nil
        }
        guard range.contains(value) else {
            diagnostics.error("`\(member.key)` must be between \(range.lowerBound) and \(range.upperBound), not \(value)", at: member.value.location)
            return nil
        }
        return value
    }

    /// A list of strings with their positions. With `allowSingle`, a JSON string is a list of one.
    mutating func stringList(_ member: Node.Member, allowSingle: Bool = false) -> [(String, SourceLocation)]? {
        switch member.value.value {
        case .array(let items):
            var result: [(String, SourceLocation)] = []
            var ok = true
            for item in items {
                if case .string(let text) = item.value {
                    result.append((text, item.location))
                } else {
                    diagnostics.error("`\(member.key)` must hold strings, not \(item.kindDescription)", at: item.location)
                    ok = false
                }
            }
            return ok ? result : nil
        case .string(let text) where allowSingle:
            return [(text, member.value.location)]
        case .text(_, _, let items):
            return items.map { ($0.text, $0.location) }
        default:
            let expected = allowSingle ? "a string or an array of strings" : "an array of strings"
            diagnostics.error("`\(member.key)` must be \(expected), not \(member.value.kindDescription)", at: member.value.location)
            return nil
        }
    }

    // MARK: Schema

    mutating func validate(root: Node, hasHeader: Bool = true) -> Schema? {
        let known = form == .json ? Self.rootKeysJSON : Self.rootKeysINI + [container("messages"), container("daemons")]
        guard let keys = object(root, form == .json ? "the schema" : "[zgen]", known: known) else { return nil }

        if let member = keys[versionKey] {
            if let version = integer(member, in: Int.min...Int.max), version != 1 {
                diagnostics.error("unsupported format version \(version); this zgen reads version 1", at: member.value.location)
            }
        } else if hasHeader {
            diagnostics.error("missing key `\(versionKey)`\(inSection("zgen")) (the format version, 1)", at: root.location)
        }
        var app = ""
        if let member = keys["app"] {
            if let value = string(member) {
                if value.isEmpty { diagnostics.error("`app` must not be empty", at: member.value.location) }
                app = value
            }
        } else if hasHeader {
            diagnostics.error("missing key `app`\(inSection("zgen")) (the app name shared by the daemons)", at: root.location)
        }
        var imports: [String] = []
        if let member = keys["imports"], let list = stringList(member) {
            var seen: Set<String> = []
            for (module, location) in list {
                if !Identifiers.isIdentifier(module) {
                    diagnostics.error("`\(module)` is not a module name", at: location)
                } else if !seen.insert(module).inserted {
                    diagnostics.warning("`\(module)` is imported twice", at: location)
                } else {
                    imports.append(module)
                }
            }
        }
        let description = keys["description"].flatMap { string($0) }

        var messages: [Message] = []
        if let member = keys[container("messages")] {
            messages = validateMessages(member.value)
            declaredMessages = Set(member.value.members?.map(\.key) ?? [])
        }
        var daemons: [Daemon] = []
        if let member = keys[container("daemons")] {
            validMessages = Set(messages.map(\.name))
            daemons = validateDaemons(member.value, messages: messages)
        }
        checkTypeNames(messages: messages, daemons: daemons)
        var system = SystemCheck(daemons: daemons, endpoints: endpointLocations)
        system.run(into: &diagnostics)

        guard !diagnostics.hasErrors else { return nil }
        return Schema(app: app, imports: imports, description: description, messages: messages, daemons: daemons)
    }

    // MARK: Names

    /// Every message name the schema declares, valid or not (a channel naming an invalid one is not
    /// reported again).
    var declaredMessages: Set<String> = []

    /// The names of the messages that validated.
    var validMessages: Set<String> = []

    /// Where each type name was declared, to report clashes at both places.
    var typeNameLocations: [String: (name: String, location: SourceLocation)] = [:]

    mutating func typeName(for name: String, _ what: String, at location: SourceLocation) -> String? {
        let identifier = Naming.typeName(name)
        if identifier.isEmpty {
            diagnostics.error("\(what) name `\(name)` has no letters or digits to make a Swift name from", at: location)
            return nil
        }
        if Naming.reservedTypeNames.contains(identifier) {
            diagnostics.error("\(what) name `\(name)` would shadow `\(identifier)`, which the generated code uses; choose another name", at: location)
            return nil
        }
        return identifier
    }

    mutating func claimTypeName(_ identifier: String, name: String, at location: SourceLocation) {
        if let first = typeNameLocations[identifier] {
            diagnostics.error(
                "`\(name)` and `\(first.name)` both become the Swift type `\(identifier)`", at: location,
                notes: [Diagnostic(.note, "`\(first.name)` is declared here", at: first.location)])
        } else {
            typeNameLocations[identifier] = (name, location)
        }
    }

    mutating func checkTypeNames(messages: [Message], daemons: [Daemon]) {
        // Message and daemon names were claimed as they were read; the handler protocols are claimed here.
        for daemon in daemons {
            let location = typeNameLocations[daemon.typeName]?.location ?? .start
            claimTypeName(Naming.handlersProtocol(daemon.typeName), name: Naming.handlersProtocol(daemon.name), at: location)
        }
    }

    // MARK: Messages

    mutating func validateMessages(_ node: Node) -> [Message] {
        guard let members = node.members else {
            diagnostics.error("`messages` must be an object, not \(node.kindDescription)", at: node.location)
            return []
        }
        var messages: [Message] = []
        var seen: [String: SourceLocation] = [:]
        for member in members {
            if let first = seen[member.key] {
                diagnostics.error(
                    "duplicate message `\(member.key)`", at: member.keyLocation,
                    notes: [Diagnostic(.note, "`\(member.key)` first declared here", at: first)])
                continue
            }
            seen[member.key] = member.keyLocation
            guard let name = typeName(for: member.key, "message", at: member.keyLocation) else { continue }
            claimTypeName(name, name: member.key, at: member.keyLocation)
            if let message = validateMessage(member, typeName: name) {
                messages.append(message)
            }
        }
        return messages
    }

    mutating func validateMessage(_ member: Node.Member, typeName: String) -> Message? {
        guard let keys = object(member.value, "message `\(member.key)`", known: Self.messageKeys) else { return nil }
        let description = keys["description"].flatMap { string($0) }
        guard let framesMember = keys["frames"] else {
            diagnostics.error("message `\(member.key)` needs `frames`", at: member.keyLocation)
            return nil
        }
        guard case .array(let items) = framesMember.value.value else {
            diagnostics.error("`frames` must be an array, not \(framesMember.value.kindDescription)", at: framesMember.value.location)
            return nil
        }
        if items.isEmpty {
            diagnostics.error("message `\(member.key)` needs at least one frame (ZeroMQ has no empty messages)", at: framesMember.value.location)
            return nil
        }
        var frames: [Frame] = []
        var ok = true
        var names: [String: SourceLocation] = [:]
        var properties: [String: (String, SourceLocation)] = [:]
        for (index, item) in items.enumerated() {
            guard let frame = validateFrame(item, message: member.key, isLast: index == items.count - 1) else {
                ok = false
                continue
            }
            let location = item["name"]?.value.location ?? item.location
            if let first = names[frame.name] {
                diagnostics.error(
                    "duplicate frame `\(frame.name)` in message `\(member.key)`", at: location,
                    notes: [Diagnostic(.note, "`\(frame.name)` first declared here", at: first)])
                ok = false
                continue
            }
            names[frame.name] = location
            if let first = properties[frame.propertyName] {
                diagnostics.error(
                    "frames `\(frame.name)` and `\(first.0)` both become the Swift property `\(frame.propertyName)`", at: location,
                    notes: [Diagnostic(.note, "`\(first.0)` is declared here", at: first.1)])
                ok = false
                continue
            }
            properties[frame.propertyName] = (frame.name, location)
            frames.append(frame)
        }
        // Frames with a default are a tail: a sender that leaves one out leaves out the rest too.
        if let firstDefault = frames.firstIndex(where: { $0.defaultValue != nil }) {
            for (index, frame) in frames.enumerated() where index > firstDefault && frame.defaultValue == nil && !frame.repeated {
                let location = items[index]["name"]?.value.location ?? items[index].location
                diagnostics.error(
                    "frame `\(frame.name)` of `\(member.key)` needs a `default`: it follows `\(frames[firstDefault].name)`, which has one "
                        + "(frames with defaults must be the last, a repeated frame after them)", at: location)
                ok = false
            }
        }
        var extraFrames = ExtraFrames.reject
        if let extra = keys["extraFrames"], let text = string(extra) {
            if let policy = ExtraFrames(rawValue: text) {
                extraFrames = policy
                if policy == .ignore, frames.last?.repeated == true {
                    diagnostics.error("`extraFrames` has no meaning for `\(member.key)`: its repeated last frame takes every frame after it",
                                      at: extra.keyLocation)
                    ok = false
                }
            } else {
                diagnostics.error("`extraFrames` is `reject` or `ignore`, not `\(text)`", at: extra.value.location)
                ok = false
            }
        }
        let renamedFrom = keys["renamedFrom"].flatMap { string($0) }
        guard ok else { return nil }
        messageLocations[member.key] = member.keyLocation
        for (index, item) in items.enumerated() {
            frameLocations["\(member.key)#\(index)"] = item["name"]?.value.location ?? item.location
        }
        return Message(name: member.key, typeName: typeName, description: description, frames: frames, extraFrames: extraFrames,
                       renamedFrom: renamedFrom)
    }

    /// A frame's `default`, checked against its type.
    mutating func frameDefault(_ member: Node.Member, type: FrameType, repeated: Bool) -> FrameDefault? {
        if repeated {
            diagnostics.error("a repeated frame needs no `default`: a sender that leaves it out sends none of it", at: member.keyLocation)
            return nil
        }
        switch type {
        case .string:
            return string(member).map(FrameDefault.string)
        case .bool:
            return bool(member).map(FrameDefault.bool)
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64:
            let range: ClosedRange<Int> = switch type {
            case .int8: Int(Int8.min)...Int(Int8.max)
            case .int16: Int(Int16.min)...Int(Int16.max)
            case .int32: Int(Int32.min)...Int(Int32.max)
            case .uint8: 0...Int(UInt8.max)
            case .uint16: 0...Int(UInt16.max)
            case .uint32: 0...Int(UInt32.max)
            case .uint64: 0...Int.max
            default: Int.min...Int.max
            }
            return integer(member, in: range).map(FrameDefault.integer)
        case .float, .double:
            let text: String
            switch member.value.value {
            case .number(let number): text = number
            case .text(let value, _, _): text = value
            default:
                diagnostics.error("`default` of a `\(type.rawValue)` frame must be a number, not \(member.value.kindDescription)", at: member.value.location)
                return nil
            }
            guard Double(text)?.isFinite == true else {
                diagnostics.error("`default` of a `\(type.rawValue)` frame must be a finite number, not `\(text)`", at: member.value.location)
                return nil
            }
            return .number(text)
        case .bytes, .json:
            diagnostics.error("a `\(type.rawValue)` frame cannot have a `default` (only string, bool, integer, float and double frames can)",
                              at: member.keyLocation)
            return nil
        }
    }

    mutating func validateFrame(_ node: Node, message: String, isLast: Bool) -> Frame? {
        guard let keys = object(node, "a frame of `\(message)`", known: Self.frameKeys) else { return nil }
        var ok = true
        var name: String?
        var property = ""
        if let member = keys["name"] {
            name = string(member)
            if let text = name {
                property = Identifiers.lowerCamelCase(text)
                if property.isEmpty {
                    diagnostics.error("frame name `\(text)` has no letters or digits to make a Swift name from", at: member.value.location)
                    ok = false
                }
            }
        } else {
            diagnostics.error("a frame of `\(message)` needs `name`", at: node.location)
            ok = false
        }
        var type: FrameType?
        if let member = keys["type"], let text = string(member) {
            type = FrameType(rawValue: text)
            if type == nil {
                diagnostics.error(
                    "unknown frame type `\(text)`" + Suggestion.didYouMean(text, in: FrameType.allCases.map(\.rawValue)),
                    at: member.value.location)
            }
        } else if keys["type"] == nil {
            diagnostics.error("frame `\(name ?? "?")` of `\(message)` needs `type`", at: node.location)
        }
        var swiftType: String?
        if let member = keys["swiftType"], let text = string(member) {
            if !Identifiers.isTypeExpression(text) {
                diagnostics.error("`\(text)` is not a Swift type", at: member.value.location)
                ok = false
            } else if let type, type != .json {
                diagnostics.error("`swiftType` applies only to `json` frames, not `\(type.rawValue)`", at: member.keyLocation)
                ok = false
            }
            swiftType = text
        }
        if type == .json, swiftType == nil, keys["swiftType"] == nil {
            diagnostics.error(
                "a `json` frame needs `swiftType`, the Codable type it holds", at: keys["type"]?.value.location ?? node.location)
            ok = false
        }
        var repeated = false
        if let member = keys["repeated"], let value = bool(member) {
            repeated = value
            if value && !isLast {
                diagnostics.error("only the last frame of a message can be `repeated`", at: member.keyLocation)
                ok = false
            }
        }
        let description = keys["description"].flatMap { string($0) }
        var defaultValue: FrameDefault?
        if let member = keys["default"], let type {
            defaultValue = frameDefault(member, type: type, repeated: repeated)
            if defaultValue == nil { ok = false }
        }
        let renamedFrom = keys["renamedFrom"].flatMap { string($0) }
        guard ok, let name, let type else { return nil }
        return Frame(
            name: name, propertyName: property, type: type, swiftType: type == .json ? swiftType : nil, repeated: repeated,
            description: description, defaultValue: defaultValue, renamedFrom: renamedFrom)
    }

    // MARK: Daemons

    /// Every endpoint's location, by daemon and channel index, for the whole-system check.
    var endpointLocations: [[[SourceLocation]]] = []
    /// Where each message is declared (its key), by schema name: for the breaking-change check.
    var messageLocations: [String: SourceLocation] = [:]
    /// Where each frame is declared, by `<message>#<index>`.
    var frameLocations: [String: SourceLocation] = [:]
    /// Where each channel is declared (`<daemon>.<channel>`) and each of its keys' values
    /// (`<daemon>.<channel>.<key>`).
    var channelLocations: [String: SourceLocation] = [:]

    /// What the breaking-change check needs to point at the new schema.
    var locations: SchemaLocations {
        SchemaLocations(messages: messageLocations, frames: frameLocations, channels: channelLocations)
    }

    mutating func validateDaemons(_ node: Node, messages: [Message]) -> [Daemon] {
        guard let members = node.members else {
            diagnostics.error("`daemons` must be an object, not \(node.kindDescription)", at: node.location)
            return []
        }
        var daemons: [Daemon] = []
        var seen: [String: SourceLocation] = [:]
        for member in members {
            if let first = seen[member.key] {
                diagnostics.error(
                    "duplicate daemon `\(member.key)`", at: member.keyLocation,
                    notes: [Diagnostic(.note, "`\(member.key)` first declared here", at: first)])
                continue
            }
            seen[member.key] = member.keyLocation
            guard let name = typeName(for: member.key, "daemon", at: member.keyLocation) else { continue }
            claimTypeName(name, name: member.key, at: member.keyLocation)
            var locations: [[SourceLocation]] = []
            if let daemon = validateDaemon(member, typeName: name, messages: messages, endpointLocations: &locations) {
                daemons.append(daemon)
                endpointLocations.append(locations)
            }
        }
        return daemons
    }

    mutating func validateDaemon(
        _ member: Node.Member, typeName: String, messages: [Message], endpointLocations: inout [[SourceLocation]]
    ) -> Daemon? {
        channelLocations[member.key] = member.keyLocation  // the daemon's own key
        let known = form == .json ? Self.daemonKeys : ["title", "description", "instances", container("channels")]
        guard let keys = object(member.value, "daemon `\(member.key)`", known: known) else { return nil }
        let title = keys["title"].flatMap { string($0) } ?? member.key
        let instances = keys["instances"].flatMap { integer($0, in: 1...10_000) }
        let description = keys["description"].flatMap { string($0) }
        var channels: [Channel] = []
        var channelKeys: [ChannelKeys] = []
        var ok = true
        if let channelsMember = keys[container("channels")] {
            if let items = channelsMember.value.members {
                var seen: [String: SourceLocation] = [:]
                var parts: [String: (String, SourceLocation)] = [:]
                var handlers: [String: (String, SourceLocation)] = [:]
                var senders: [String: (String, SourceLocation)] = [:]
                var cases: [String: (String, SourceLocation)] = [:]
                for item in items {
                    if let first = seen[item.key] {
                        diagnostics.error(
                            "duplicate channel `\(item.key)` in daemon `\(member.key)`", at: item.keyLocation,
                            notes: [Diagnostic(.note, "`\(item.key)` first declared here", at: first)])
                        ok = false
                        continue
                    }
                    seen[item.key] = item.keyLocation
                    guard case (var channel, let channelKeyMap, let locations)? = validateChannel(item, daemon: member.key, messages: messages) else {
                        ok = false
                        continue
                    }
                    if let first = parts[channel.identifierPart] {
                        diagnostics.error(
                            "channels `\(item.key)` and `\(first.0)` both become `\(channel.identifierPart)` in Swift names", at: item.keyLocation,
                            notes: [Diagnostic(.note, "`\(first.0)` is declared here", at: first.1)])
                        ok = false
                        continue
                    }
                    parts[channel.identifierPart] = (item.key, item.keyLocation)
                    if let first = cases[channel.caseName] {
                        diagnostics.error(
                            "channels `\(item.key)` and `\(first.0)` both become `case \(channel.caseName)` of `\(typeName).Channel`",
                            at: item.keyLocation, notes: [Diagnostic(.note, "`\(first.0)` is declared here", at: first.1)])
                        ok = false
                        continue
                    }
                    cases[channel.caseName] = (item.key, item.keyLocation)
                    // A method name two channels of one daemon give is an error at the second.
                    func claim(_ name: String?, key: String, what: String, in taken: inout [String: (String, SourceLocation)]) -> Bool {
                        guard let name else { return true }
                        let location = channelKeyMap[key]?.value.location ?? item.keyLocation
                        if let first = taken[name] {
                            diagnostics.error("channel `\(item.key)`'s \(what) `\(name)` is already taken", at: location,
                                              notes: [Diagnostic(.note, "`\(first.0)` uses it here", at: first.1)])
                            return false
                        }
                        taken[name] = (item.key, location)
                        return true
                    }
                    if !claim(channel.handler, key: "handler", what: "handler", in: &handlers) {
                        ok = false
                        channel.handler = nil
                    }
                    if !claim(channel.sender, key: "sender", what: "send method", in: &senders) {
                        ok = false
                        channel.sender = nil
                    }
                    channels.append(channel)
                    channelKeys.append(channelKeyMap)
                    endpointLocations.append(locations)
                }
            } else {
                diagnostics.error("`channels` must be an object, not \(channelsMember.value.kindDescription)", at: channelsMember.value.location)
                ok = false
            }
        } else {
            let where_ = form == .json ? "`channels`" : "[channel:\(member.key).<name>] sections"
            diagnostics.error("daemon `\(member.key)` has no \(where_)", at: member.keyLocation)
            ok = false
        }
        guard ok else { return nil }
        guard checkDrains(&channels, keys: channelKeys) else { return nil }
        return Daemon(name: member.key, typeName: typeName, title: title, description: description, instances: instances,
                      channels: channels)
    }

    typealias ChannelKeys = [String: Node.Member]

    mutating func validateChannel(
        _ member: Node.Member, daemon: String, messages: [Message]
    ) -> (Channel, ChannelKeys, [SourceLocation])? {
        let what = "channel `\(daemon).\(member.key)`"
        guard let keys = object(member.value, what, known: Self.channelKeys) else { return nil }
        channelLocations["\(daemon).\(member.key)"] = member.keyLocation
        for (key, keyMember) in keys { channelLocations["\(daemon).\(member.key).\(key)"] = keyMember.value.location }
        let part = Naming.channelPart(member.key)
        var ok = true
        if part.isEmpty {
            diagnostics.error("channel name `\(member.key)` has no letters or digits to make a Swift name from", at: member.keyLocation)
            ok = false
        }
        var socket: SocketType?
        if let socketMember = keys["socket"] {
            if let text = string(socketMember) {
                socket = SocketType(rawValue: text)
                if socket == nil {
                    diagnostics.error(
                        "unknown socket type `\(text)`" + Suggestion.didYouMean(text, in: SocketType.allCases.map(\.rawValue)),
                        at: socketMember.value.location)
                }
            }
        } else {
            diagnostics.error("\(what) needs `socket`", at: member.keyLocation)
        }
        var bind = false
        if let bindMember = keys["bind"] {
            if let value = bool(bindMember) { bind = value } else { ok = false }
        }

        var endpoints: [String] = []
        var endpointLocations: [SourceLocation] = []
        if let endpointMember = keys["endpoint"] {
            if let list = stringList(endpointMember, allowSingle: true) {
                if list.isEmpty {
                    diagnostics.error("`endpoint` must name at least one endpoint", at: endpointMember.value.location)
                    ok = false
                }
                for (endpoint, location) in list {
                    if let problem = Endpoint.problem(endpoint, bind: bind) {
                        diagnostics.error(problem, at: location)
                        ok = false
                    }
                    endpoints.append(endpoint)
                    endpointLocations.append(location)
                }
            } else {
                ok = false
            }
        } else {
            diagnostics.error("\(what) needs `endpoint`", at: member.keyLocation)
            ok = false
        }
        guard let socket else {
            // Still check what does not depend on the socket type.
            if let m = keys["hwm"] { _ = integer(m, in: ChannelLimits.hwm) }
            if let m = keys["queue"] { _ = integer(m, in: ChannelLimits.queue) }
            if let m = keys["linger"] { _ = integer(m, in: ChannelLimits.linger) }
            if let m = keys["options"] { _ = validateOptions(m.value, socket: nil) }
            for key in ["message", "send", "recv"] {
                guard let m = keys[key], let name = string(m), !validMessages.contains(name), !declaredMessages.contains(name) else { continue }
                diagnostics.error("unknown message `\(name)`" + Suggestion.didYouMean(name, in: messages.map(\.name)), at: m.value.location)
            }
            return nil
        }
        var channel = Channel(name: member.key, identifierPart: part, socket: socket, endpoints: endpoints, bind: bind)

        // subscribe
        if let subscribeMember = keys["subscribe"] {
            if !socket.takesSubscriptions {
                diagnostics.error("`subscribe` applies only to SUB and XSUB sockets, not \(socket.rawValue)", at: subscribeMember.keyLocation)
                ok = false
            } else if let list = stringList(subscribeMember) {
                channel.subscribe = list.map(\.0)
                if list.isEmpty && socket == .sub {
                    diagnostics.warning("`subscribe` is empty, so this SUB channel receives nothing; use [\"\"] for every message", at: subscribeMember.value.location)
                }
            } else {
                ok = false
            }
        } else if socket == .sub {
            let example = form == .json ? "\"subscribe\": [\"\"]" : "subscribe = \"\""
            diagnostics.error("a SUB channel needs `subscribe` (`\(example)` receives every message)", at: member.keyLocation)
            ok = false
        }

        // message directions
        func messageName(_ key: String) -> (String, Node.Member)? {
            guard let m = keys[key], let name = string(m) else { return nil }
            return (name, m)
        }
        var resolved: [String: String] = [:]
        for key in ["message", "send", "recv", "request", "reply", "error"] {
            guard let (name, m) = messageName(key) else {
                if keys[key] != nil { ok = false }
                continue
            }
            if !validMessages.contains(name) {
                ok = false
                if declaredMessages.contains(name) { continue }
                diagnostics.error("unknown message `\(name)`" + Suggestion.didYouMean(name, in: messages.map(\.name)), at: m.value.location)
                ok = false
                continue
            }
            resolved[key] = name
        }
        if let m = keys["message"], keys["send"] != nil || keys["recv"] != nil {
            diagnostics.error("use either `message` or `send`/`recv`, not both", at: m.keyLocation)
            ok = false
        }
        // request/reply: a request channel (DEALER calls, ROUTER serves) or REQ/REP in their words
        let requestKeys = ["request", "reply"].filter { keys[$0] != nil }
        if let first = requestKeys.first.flatMap({ keys[$0] }) {
            if let other = ["message", "send", "recv"].first(where: { keys[$0] != nil }), let m = keys[other] {
                diagnostics.error("use either `request`/`reply` or `\(other)`, not both", at: m.keyLocation)
                ok = false
            } else if ![.dealer, .router, .req, .rep].contains(socket) {
                diagnostics.error("`\(requestKeys[0])` needs a DEALER (calls), ROUTER (serves), REQ or REP socket, not \(socket.rawValue)",
                                  at: first.keyLocation)
                ok = false
            } else if requestKeys.count < 2 {
                let missing = requestKeys[0] == "request" ? "reply" : "request"
                diagnostics.error("a request channel needs both `request` and `reply`; `\(missing)` is missing", at: member.keyLocation)
                ok = false
            } else if let request = resolved["request"], let reply = resolved["reply"] {
                let calls = socket == .dealer || socket == .req
                channel.send = calls ? request : reply
                channel.recv = calls ? reply : request
                channel.isRequestChannel = socket == .dealer || socket == .router
            }
        }
        if let m = keys["error"] {
            if ![.dealer, .router, .req, .rep].contains(socket) || (socket == .dealer || socket == .router) && requestKeys.isEmpty {
                diagnostics.error("`error` needs a REQ or REP channel or a request channel (`request`/`reply`)", at: m.keyLocation)
                ok = false
            } else if let error = resolved["error"] {
                channel.error = error
            }
        }
        if let m = keys["send"], !socket.canSend {
            diagnostics.error("a \(socket.rawValue) socket cannot send; remove `send`", at: m.keyLocation)
            ok = false
        }
        if let m = keys["recv"], !socket.canReceive {
            diagnostics.error("a \(socket.rawValue) socket cannot receive; remove `recv`", at: m.keyLocation)
            ok = false
        }
        if let message = resolved["message"] {
            switch socket {
            case .xpub: channel.send = message  // XPUB receives subscriptions, typed only through `recv`
            case .xsub: channel.recv = message  // XSUB sends subscriptions, typed only through `send`
            default:
                if socket.canSend { channel.send = message }
                if socket.canReceive { channel.recv = message }
            }
        } else if requestKeys.isEmpty {
            if socket.canSend { channel.send = resolved["send"] }
            if socket.canReceive { channel.recv = resolved["recv"] }
        }
        if keys["message"] == nil && keys["send"] == nil && keys["recv"] == nil && requestKeys.isEmpty {
            diagnostics.error("\(what) needs `message` (or `send`/`recv`, or `request`/`reply`): the type it carries", at: member.keyLocation)
            ok = false
        } else if ok, socket == .req || socket == .rep, channel.send == nil || channel.recv == nil {
            diagnostics.error("a \(socket.rawValue) channel needs both `send` and `recv` (or `message` for both)", at: member.keyLocation)
            ok = false
        }

        // stream: the received messages go to an AsyncSequence instead of a handler
        var streamed = false
        if let streamMember = keys["stream"] {
            if let value = bool(streamMember) {
                if value && (channel.recv == nil || [.rep, .req, .router].contains(socket) || channel.isRequestChannel) {
                    let reason = channel.recv == nil
                        ? (socket.canReceive ? "never receives (no `recv` type)" : "is send-only (\(socket.rawValue))")
                        : channel.isRequestChannel ? "is a request channel (each reply goes to its request)"
                        : socket == .router ? "is a ROUTER (its handler gets the peer to answer)"
                        : "is \(socket.rawValue) (its handler \(socket == .rep ? "returns the reply" : "gets the reply or the timeout"))"
                    diagnostics.error("`stream` on channel `\(member.key)`, which \(reason)", at: streamMember.keyLocation)
                    ok = false
                } else if value, let handlerMember = keys["handler"] {
                    diagnostics.error("channel `\(member.key)` has both `stream` and `handler`: a streamed channel has no handler",
                                      at: handlerMember.keyLocation)
                    ok = false
                } else if value {
                    streamed = true
                    channel.stream = Naming.streamProperty(member.key)
                }
            } else {
                ok = false
            }
        }

        // borrow: the handler takes the fields in place (only plain receive handlers do)
        if let borrowMember = keys["borrow"] {
            if let value = bool(borrowMember) {
                let message = channel.recv.flatMap { name in messages.first { $0.name == name } }
                if value && (channel.recv == nil || [.rep, .req, .router].contains(socket) || channel.isRequestChannel || streamed) {
                    let reason = channel.recv == nil
                        ? (socket.canReceive ? "never receives (no `recv` type)" : "is send-only (\(socket.rawValue))")
                        : streamed ? "is streamed (a stream's messages outlive the receive buffer)"
                        : channel.isRequestChannel ? "is a request channel (its handlers take owned messages)"
                        : "is \(socket.rawValue) (its handler takes an owned message)"
                    diagnostics.error("`borrow` on channel `\(member.key)`, which \(reason)", at: borrowMember.keyLocation)
                    ok = false
                } else if value, let message, let repeated = message.frames.first(where: \.repeated) {
                    diagnostics.error("`borrow` on channel `\(member.key)`: message `\(message.name)` has a repeated frame (`\(repeated.name)`), which a borrowed handler cannot take; receive it owned",
                                      at: borrowMember.keyLocation)
                    ok = false
                } else if value, let message, message.frames.contains(where: { $0.propertyName == "daemon" }) {
                    diagnostics.error("`borrow` on channel `\(member.key)`: message `\(message.name)` has a frame named `daemon`, which would clash with the handler's `daemon:` parameter",
                                      at: borrowMember.keyLocation)
                    ok = false
                } else {
                    channel.borrow = value
                }
            } else {
                ok = false
            }
        }

        // handler
        let calls = channel.isRequestChannel && socket == .dealer
        if streamed {
            // No handler: the client's `<channel>Messages` yields what it receives.
        } else if calls, let handlerMember = keys["handler"] {
            diagnostics.error("`handler` on request channel `\(member.key)`, which calls: each request gets its own outcome",
                              at: handlerMember.keyLocation)
            ok = false
        } else if calls {
            // No handler: each request's outcome goes to its caller.
        } else if let handlerMember = keys["handler"], let handler = string(handlerMember) {
            if channel.recv == nil {
                let reason = socket.canReceive ? "never receives (no `recv` type)" : "is send-only (\(socket.rawValue))"
                diagnostics.error("`handler` on channel `\(member.key)`, which \(reason)", at: handlerMember.keyLocation)
                ok = false
            } else if !Identifiers.isIdentifier(handler) || Identifiers.keywords.contains(handler) {
                diagnostics.error("handler `\(handler)` is not a usable Swift method name", at: handlerMember.value.location)
                ok = false
            } else {
                channel.handler = handler
            }
        } else if keys["handler"] != nil {
            ok = false
        } else if channel.recv != nil {
            channel.handler = Naming.handlerMethod(part)
        }

        // sender: REP has no send method (its handler returns the reply)
        let sends = channel.send != nil && socket != .rep && !(channel.isRequestChannel && socket == .router)
        if let senderMember = keys["sender"], let sender = string(senderMember) {
            if !sends {
                let reason = socket == .rep ? "answers by returning from its handler (REP)"
                    : channel.isRequestChannel ? "serves requests: its handler answers through the responder"
                    : socket.canSend ? "never sends (no `send` type)" : "is receive-only (\(socket.rawValue))"
                diagnostics.error("`sender` on channel `\(member.key)`, which \(reason)", at: senderMember.keyLocation)
                ok = false
            } else if !Identifiers.isIdentifier(sender) || Identifiers.keywords.contains(sender) {
                diagnostics.error("sender `\(sender)` is not a usable Swift method name", at: senderMember.value.location)
                ok = false
            } else if Naming.reservedDaemonMembers.contains(sender) {
                diagnostics.error("sender `\(sender)` is a name every generated daemon already has", at: senderMember.value.location)
                ok = false
            } else {
                channel.sender = sender
            }
        } else if keys["sender"] != nil {
            ok = false
        } else if sends {
            channel.sender = calls ? Naming.requestMethod(part) : Naming.sendMethod(part, socket: socket)
        }

        // numbers
        if let m = keys["hwm"] {
            if let value = integer(m, in: ChannelLimits.hwm) { channel.hwm = value } else { ok = false }
        }
        if let m = keys["queue"] {
            if let value = integer(m, in: ChannelLimits.queue) { channel.queue = value } else { ok = false }
        }
        if let m = keys["linger"] {
            if let value = integer(m, in: ChannelLimits.linger) { channel.linger = value } else { ok = false }
        }
        if let m = keys["timeout"] {
            if socket != .req && !calls {
                diagnostics.error(socket == .dealer
                    ? "`timeout` on a DEALER needs a request channel (`request`/`reply`)"
                    : "`timeout` applies to REQ channels and DEALER request channels, not \(socket.rawValue)", at: m.keyLocation)
                ok = false
            } else if let value = integer(m, in: ChannelLimits.timeout) {
                channel.timeout = value
            } else {
                ok = false
            }
        }
        if let m = keys["drainedBy"] {
            if let value = string(m) { channel.drainedBy = value } else { ok = false }
        }
        if let m = keys["drains"] {
            if let value = string(m) { channel.drains = value } else { ok = false }
        }
        if let m = keys["options"] {
            if let options = validateOptions(m.value, socket: socket) { channel.options = options } else { ok = false }
        }
        if !validateSecurity(keys, channel: &channel) { ok = false }
        if let m = keys["description"] {
            channel.description = string(m)
        }
        guard ok else { return nil }
        return (channel, keys, endpointLocations)
    }

    /// `security` is `none` or `curve`; `curveServer` only with CURVE; CURVE on inproc warns.
    mutating func validateSecurity(_ keys: ChannelKeys, channel: inout Channel) -> Bool {
        var ok = true
        var securityKnown = true
        if let m = keys["security"], let text = string(m) {
            if let mode = ChannelSecurity(rawValue: text) {
                channel.security = mode
            } else {
                let names = ChannelSecurity.allCases.map(\.rawValue)
                var hint = Suggestion.didYouMean(text, in: names)
                if hint.isEmpty { hint = " (expected \(names.map { "`\($0)`" }.joined(separator: " or ")))" }
                diagnostics.error("unknown security `\(text)`" + hint, at: m.value.location)
                ok = false
                securityKnown = false
            }
        } else if keys["security"] != nil {
            ok = false
            securityKnown = false
        }
        if let m = keys["curveServer"] {
            if let value = bool(m) {
                if channel.security == .curve {
                    channel.curveServer = value
                } else if securityKnown {
                    let example = form == .json ? "\"security\": \"curve\"" : "security = curve"
                    diagnostics.error("`curveServer` applies only to CURVE channels (add `\(example)`)", at: m.keyLocation)
                    ok = false
                }
            } else {
                ok = false
            }
        }
        if channel.security == .curve, let m = keys["security"],
           channel.endpoints.contains(where: { $0.hasPrefix("inproc://") })
        {
            diagnostics.warning("CURVE on inproc is pointless: inproc never leaves the process", at: m.value.location)
        }
        return ok
    }

    mutating func validateOptions(_ node: Node, socket: SocketType?) -> ChannelOptions? {
        guard let keys = object(node, "`options`", known: Self.optionKeys) else { return nil }
        var options = ChannelOptions()
        var ok = true
        for option in ChannelOption.allCases {
            guard let m = keys[option.schemaKey] else { continue }
            switch option.kind {
            case .integer(let range):
                if let value = integer(m, in: range) { options[option] = .integer(Int32(value)) } else { ok = false }
            case .flag:
                if let value = bool(m) { options[option] = .flag(value) } else { ok = false }
            }
            if let socket, let only = option.onlySocket, only != socket {
                diagnostics.error("`\(option.schemaKey)` applies only to \(only.rawValue) sockets, not \(socket.rawValue)", at: m.keyLocation)
                ok = false
            }
        }
        return ok ? options : nil
    }

    /// drainedBy names a sending channel of the same daemon, drains a receiving one, and the pair agrees
    /// both ways. The model records both ends of every pair, whichever end the schema wrote.
    mutating func checkDrains(_ channels: inout [Channel], keys: [ChannelKeys]) -> Bool {
        let names = channels.map(\.name)
        var indices: [String: Int] = [:]
        for (index, name) in names.enumerated() where indices[name] == nil { indices[name] = index }
        var ok = true
        func index(of name: String, from channel: Int, key: String) -> Int? {
            let member = keys[channel][key]!
            guard let target = indices[name] else {
                diagnostics.error(
                    "`\(key)` names `\(name)`, which is not a channel of this daemon" + Suggestion.didYouMean(name, in: names),
                    at: member.value.location)
                ok = false
                return nil
            }
            if target == channel {
                diagnostics.error("channel `\(name)` cannot be `\(key)` itself", at: member.value.location)
                ok = false
                return nil
            }
            return target
        }
        var drainedBy: [Int: Int] = [:]  // input -> output
        var drains: [Int: Int] = [:]  // output -> input
        for (i, channel) in channels.enumerated() {
            if let name = channel.drainedBy, let target = index(of: name, from: i, key: "drainedBy") {
                let location = keys[i]["drainedBy"]!.value.location
                if channel.recv == nil {
                    diagnostics.error("`drainedBy` is for an input, but `\(channel.name)` never receives", at: keys[i]["drainedBy"]!.keyLocation)
                    ok = false
                } else if channels[target].send == nil || channels[target].socket == .rep {
                    diagnostics.error("`drainedBy` names `\(name)`, which never sends, so it cannot drain `\(channel.name)`", at: location)
                    ok = false
                } else {
                    drainedBy[i] = target
                }
            }
            if let name = channel.drains, let target = index(of: name, from: i, key: "drains") {
                let location = keys[i]["drains"]!.value.location
                if channel.send == nil || channel.socket == .rep {
                    diagnostics.error("`drains` is for an output, but `\(channel.name)` never sends", at: keys[i]["drains"]!.keyLocation)
                    ok = false
                } else if channels[target].recv == nil {
                    diagnostics.error("`drains` names `\(name)`, which never receives, so there is nothing to drain", at: location)
                    ok = false
                } else {
                    drains[i] = target
                }
            }
        }
        for (input, output) in drainedBy.sorted(by: { $0.key < $1.key }) {
            if let other = drains[output], other != input {
                diagnostics.error(
                    "`\(channels[output].name)` drains `\(channels[other].name)`, but `\(channels[input].name)` says it is drained by `\(channels[output].name)`",
                    at: keys[output]["drains"]!.value.location,
                    notes: [Diagnostic(.note, "`\(channels[input].name)` says so here", at: keys[input]["drainedBy"]!.value.location)])
                ok = false
            }
        }
        for (output, input) in drains.sorted(by: { $0.key < $1.key }) {
            if let other = drainedBy[input], other != output {
                diagnostics.error(
                    "`\(channels[input].name)` is drained by `\(channels[other].name)`, but `\(channels[output].name)` says it drains `\(channels[input].name)`",
                    at: keys[input]["drainedBy"]!.value.location,
                    notes: [Diagnostic(.note, "`\(channels[output].name)` says so here", at: keys[output]["drains"]!.value.location)])
                ok = false
            }
        }
        var drainedOutputs: [Int: Int] = [:]
        for (input, output) in drainedBy.sorted(by: { $0.key < $1.key }) {
            if let first = drainedOutputs[output] {
                diagnostics.error(
                    "`\(channels[output].name)` already drains `\(channels[first].name)`; an output drains one input",
                    at: keys[input]["drainedBy"]!.value.location)
                ok = false
            }
            drainedOutputs[output] = input
        }
        guard ok else { return false }
        for (input, output) in drainedBy {
            channels[input].drainedBy = channels[output].name
            channels[output].drains = channels[input].name
        }
        for (output, input) in drains {
            channels[input].drainedBy = channels[output].name
            channels[output].drains = channels[input].name
        }
        return true
    }
}

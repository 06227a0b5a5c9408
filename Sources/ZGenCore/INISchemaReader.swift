import INIFormat

/// Builds the positioned schema tree from an INI document, so the INI form is validated by the same
/// code as the JSON form. Sections zgen does not own are skipped (the runtime reads them) or warned about.
struct INISchemaReader {
    /// Section names and prefixes that belong to the runtime's configuration, skipped silently.
    static func isRuntimeSection(_ name: String) -> Bool {
        if ["loggers", "handlers", "formatters"].contains(name) { return true }
        return ["app:", "run:", "logger_", "handler_", "formatter_"].contains { name.hasPrefix($0) }
    }

    static func location(_ position: SourcePosition) -> SourceLocation {
        SourceLocation(line: position.line, column: position.column)
    }

    static func shifted(_ position: SourcePosition, by columns: Int) -> SourceLocation {
        SourceLocation(line: position.line, column: position.column + columns)
    }

    /// The longest value whose list items are computed (a schema never needs more; it bounds the work).
    static let maximumListValue = 64 * 1024

    static func textNode(_ entry: INIEntry) -> Node {
        let items =
            entry.rawValue.utf8.count > maximumListValue
            ? [] : entry.listItems().map { Node.ListItem(text: $0.value, location: location($0.position), isQuoted: $0.isQuoted) }
        return Node(.text(entry.value, isQuoted: entry.isQuoted, items: items), at: location(entry.valuePosition))
    }

    static func member(_ entry: INIEntry) -> Node.Member {
        Node.Member(key: entry.key, keyLocation: location(entry.keyPosition), value: textNode(entry))
    }

    /// Where a section's name starts (just after `[`).
    static func nameLocation(_ section: INISection, prefix: String) -> SourceLocation {
        shifted(section.position, by: 1 + prefix.utf8.count)
    }

    var diagnostics: DiagnosticCollector

    /// Reports values too long to be read as lists.
    mutating func checkLength(_ section: INISection) {
        for entry in section.entries where entry.rawValue.utf8.count > Self.maximumListValue {
            diagnostics.error("the value of `\(entry.key)` is longer than 64 KiB", at: Self.location(entry.valuePosition))
        }
    }

    /// Parses INI text and builds the tree (for tests); nil on an INI syntax error.
    static func tree(fromINI text: String) -> (root: Node, hasHeader: Bool, diagnostics: [Diagnostic])? {
        guard let document = try? INIParser.parse(text) else { return nil }
        var reader = INISchemaReader(diagnostics: DiagnosticCollector())
        let (root, hasHeader) = reader.read(document)
        return (root, hasHeader, reader.diagnostics.diagnostics)
    }

    /// Returns the tree and whether a `[zgen]` section was present.
    mutating func read(_ document: INIDocument) -> (Node, hasHeader: Bool) {
        var header: INISection?
        var messages: [Node.Member] = []
        var daemons: [(section: INISection, name: String, members: [Node.Member], channels: [Node.Member])] = []
        var channelSections: [(section: INISection, daemon: String, channel: String)] = []

        for section in document.sections {
            let name = section.name
            if !Self.isRuntimeSection(name) { checkLength(section) }
            if name == "zgen" {
                if let first = header {
                    diagnostics.error(
                        "duplicate section [zgen]", at: Self.location(section.position),
                        notes: [Diagnostic(.note, "[zgen] first appears here", at: Self.location(first.position))])
                } else {
                    header = section
                }
            } else if name.hasPrefix("message:") {
                let messageName = String(name.dropFirst("message:".count))
                let value = messageNode(section, name: messageName)
                messages.append(Node.Member(key: messageName, keyLocation: Self.nameLocation(section, prefix: "message:"), value: value))
            } else if name.hasPrefix("daemon:") {
                let daemonName = String(name.dropFirst("daemon:".count))
                daemons.append((section, daemonName, section.entries.map(Self.member), []))
            } else if name.hasPrefix("channel:") {
                let qualified = name.dropFirst("channel:".count)
                guard let dot = qualified.firstIndex(of: "."), dot != qualified.startIndex, qualified.index(after: dot) != qualified.endIndex else {
                    diagnostics.error("a channel section is named [channel:<daemon>.<channel>], not [\(name)]", at: Self.location(section.position))
                    continue
                }
                channelSections.append((section, String(qualified[..<dot]), String(qualified[qualified.index(after: dot)...])))
            } else if Self.isRuntimeSection(name) {
                continue
            } else {
                diagnostics.warning("unknown section [\(name)] is ignored" + Self.suggestion(for: name), at: Self.location(section.position))
            }
        }

        for channel in channelSections {
            guard let index = daemons.firstIndex(where: { $0.name == channel.daemon }) else {
                diagnostics.error(
                    "[channel:\(channel.daemon).\(channel.channel)] belongs to no [daemon:\(channel.daemon)] section"
                        + Suggestion.didYouMean(channel.daemon, in: daemons.map(\.name)),
                    at: Self.location(channel.section.position))
                continue
            }
            let keyLocation = Self.nameLocation(channel.section, prefix: "channel:\(channel.daemon).")
            daemons[index].channels.append(
                Node.Member(key: channel.channel, keyLocation: keyLocation, value: channelNode(channel.section)))
        }

        var members: [Node.Member] = header?.entries.map(Self.member) ?? []
        let rootLocation = header.map { Self.location($0.position) } ?? .start
        if header == nil {
            diagnostics.error("missing section [zgen] (with `version = 1` and `app`)", at: .start)
        }
        members.append(Node.Member(key: "[messages]", keyLocation: rootLocation, value: Node(.object(messages), at: rootLocation)))
        let daemonMembers = daemons.map { daemon -> Node.Member in
            let location = Self.location(daemon.section.position)
            var members = daemon.members
            members.append(Node.Member(key: "[channels]", keyLocation: location, value: Node(.object(daemon.channels), at: location)))
            return Node.Member(
                key: daemon.name, keyLocation: Self.nameLocation(daemon.section, prefix: "daemon:"), value: Node(.object(members), at: location))
        }
        members.append(Node.Member(key: "[daemons]", keyLocation: rootLocation, value: Node(.object(daemonMembers), at: rootLocation)))
        return (Node(.object(members), at: rootLocation), header != nil)
    }

    static func suggestion(for name: String) -> String {
        if let colon = name.firstIndex(of: ":") {
            let prefix = String(name[..<colon])
            let rest = name[name.index(after: colon)...]
            if let match = Suggestion.closest(to: prefix, in: ["message", "daemon", "channel", "app", "run"]) {
                return "; did you mean [\(match):\(rest)]?"
            }
            return ""
        }
        if let match = Suggestion.closest(to: name, in: ["zgen", "loggers", "handlers", "formatters"]) {
            return "; did you mean [\(match)]?"
        }
        return ""
    }

    // MARK: Messages

    /// Frame keys an INI message section sets per frame, as `<key>.<frame> = …`.
    static let perFrameKeys = ["description", "default", "renamedFrom"]

    /// `frames = text:string, tags:string*, payload:json(Order)` becomes the JSON form's frame objects;
    /// `description.<frame> = …` (also `default.<frame>`, `renamedFrom.<frame>`) becomes that key of the frame.
    mutating func messageNode(_ section: INISection, name: String) -> Node {
        var members: [Node.Member] = []
        var frameDescriptions: [INIEntry] = []
        var framesIndex: Int?
        func perFrame(_ key: String) -> String? {
            Self.perFrameKeys.first { key.hasPrefix($0 + ".") && key.count > $0.count + 1 }
        }
        for entry in section.entries {
            if perFrame(entry.key) != nil {
                frameDescriptions.append(entry)
            } else if entry.key == "frames" {
                if framesIndex == nil { framesIndex = members.count }
                members.append(Node.Member(key: "frames", keyLocation: Self.location(entry.keyPosition), value: framesNode(entry)))
            } else {
                members.append(Self.member(entry))
            }
        }
        for entry in frameDescriptions {
            let key = perFrame(entry.key) ?? "description"
            let frameName = String(entry.key.dropFirst(key.count + 1))
            guard let index = framesIndex, case .array(var frames) = members[index].value.value,
                let frameIndex = frames.firstIndex(where: { frameName == Self.frameName($0) })
            else {
                diagnostics.error(
                    "`\(entry.key)` \(key == "description" ? "describes" : "sets `\(key)` of") a frame `\(frameName)` that message `\(name)` does not have",
                    at: Self.location(entry.keyPosition))
                continue
            }
            if case .object(var frameMembers) = frames[frameIndex].value {
                frameMembers.append(Node.Member(key: key, keyLocation: Self.location(entry.keyPosition), value: Self.textNode(entry)))
                frames[frameIndex].value = .object(frameMembers)
                members[index].value.value = .array(frames)
            }
        }
        return Node(.object(members), at: Self.location(section.position))
    }

    static func frameName(_ node: Node) -> String? {
        if case .text(let text, _, _)? = node["name"]?.value.value { return text }
        return nil
    }

    mutating func framesNode(_ entry: INIEntry) -> Node {
        var frames: [Node] = []
        let items = entry.rawValue.utf8.count > Self.maximumListValue ? [] : entry.listItems()
        for item in items {
            let location = Self.location(item.position)
            let text = item.value
            guard !text.isEmpty else {
                diagnostics.error("empty frame in `frames`", at: location)
                continue
            }
            guard let colon = text.firstIndex(of: ":") else {
                diagnostics.error("frame `\(text)` needs a type: write `\(text):string` (or another type)", at: location)
                continue
            }
            let name = String(text[..<colon]).trimmingCharacters(in: " \t")
            let afterColon = text[text.index(after: colon)...]
            let leading = afterColon.prefix { $0 == " " || $0 == "\t" }.utf8.count
            var spec = String(afterColon).trimmingCharacters(in: " \t")
            let typeLocation = SourceLocation(line: location.line, column: location.column + text[..<colon].utf8.count + 1 + leading)
            var members = [Node.Member(key: "name", keyLocation: location, value: Node(.text(name, isQuoted: false, items: []), at: location))]
            var repeatedLocation: SourceLocation?
            if spec.hasSuffix("*") {
                spec = String(spec.dropLast()).trimmingCharacters(in: " \t")
                repeatedLocation = SourceLocation(line: typeLocation.line, column: typeLocation.column + spec.utf8.count)
            }
            var type = spec
            if spec.hasPrefix("json("), spec.hasSuffix(")") {
                type = "json"
                let swiftType = String(spec.dropFirst(5).dropLast()).trimmingCharacters(in: " \t")
                let swiftTypeLocation = SourceLocation(line: typeLocation.line, column: typeLocation.column + 5)
                members.append(
                    Node.Member(key: "type", keyLocation: typeLocation, value: Node(.text(type, isQuoted: false, items: []), at: typeLocation)))
                members.append(
                    Node.Member(
                        key: "swiftType", keyLocation: swiftTypeLocation,
                        value: Node(.text(swiftType, isQuoted: false, items: []), at: swiftTypeLocation)))
            } else {
                members.append(
                    Node.Member(key: "type", keyLocation: typeLocation, value: Node(.text(type, isQuoted: false, items: []), at: typeLocation)))
            }
            if let repeatedLocation {
                members.append(Node.Member(key: "repeated", keyLocation: repeatedLocation, value: Node(.bool(true), at: repeatedLocation)))
            }
            frames.append(Node(.object(members), at: location))
        }
        return Node(.array(frames), at: Self.location(entry.valuePosition))
    }

    // MARK: Channels

    /// Channel keys as they are, but `options.<key> = …` gathered into one `options` object.
    func channelNode(_ section: INISection) -> Node {
        var members: [Node.Member] = []
        var optionsIndex: Int?
        for entry in section.entries {
            if entry.key.hasPrefix("options."), entry.key.count > "options.".count {
                let option = Node.Member(
                    key: String(entry.key.dropFirst("options.".count)), keyLocation: Self.shifted(entry.keyPosition, by: "options.".count),
                    value: Self.textNode(entry))
                if let index = optionsIndex, case .object(var options) = members[index].value.value {
                    options.append(option)
                    members[index].value.value = .object(options)
                } else {
                    optionsIndex = members.count
                    let keyLocation = Self.location(entry.keyPosition)
                    members.append(Node.Member(key: "options", keyLocation: keyLocation, value: Node(.object([option]), at: keyLocation)))
                }
            } else {
                members.append(Self.member(entry))
            }
        }
        return Node(.object(members), at: Self.location(section.position))
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        var view = Substring(self).unicodeScalars
        while let first = view.first, scalars.contains(first) { view.removeFirst() }
        while let last = view.last, scalars.contains(last) { view.removeLast() }
        return String(view)
    }
}

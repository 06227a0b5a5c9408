import Foundation
import Testing

@testable import ZGenCore
import ZGenVocabulary

/// The subset of JSON Schema (2020-12) that Schemas/JSONSchema/zgen.schema.json uses, checked in
/// Swift so CI needs nothing else: type, properties, required, dependentRequired, additionalProperties, items,
/// enum, const, minimum, maximum, minItems, minLength, pattern, anyOf and local `$ref`s.
struct JSONSchemaChecker {
    let root: Node

    static let annotations: Set<String> = ["$schema", "$id", "$defs", "title", "description", "default"]
    static let supported: Set<String> = [
        "type", "properties", "required", "dependentRequired", "additionalProperties", "items", "enum", "const", "minimum", "maximum", "minItems",
        "minLength", "pattern", "anyOf", "$ref",
    ]

    /// Problems of `instance` against the schema, as `path: message` lines.
    func problems(_ instance: Node) -> [String] {
        var out: [String] = []
        check(instance, against: root, path: "$", into: &out)
        return out
    }

    /// Keywords the schema uses that this checker does not understand (so a test fails rather than skip them).
    func unsupportedKeywords(_ node: Node? = nil) -> [String] {
        let node = node ?? root
        var result: [String] = []
        guard let members = node.members else { return result }
        for member in members {
            if !Self.annotations.contains(member.key) && !Self.supported.contains(member.key) { result.append(member.key) }
            switch member.key {
            case "properties", "$defs":
                for property in member.value.members ?? [] { result += unsupportedKeywords(property.value) }
            case "items", "additionalProperties":
                result += unsupportedKeywords(member.value)
            case "anyOf":
                if case .array(let items) = member.value.value { for item in items { result += unsupportedKeywords(item) } }
            default: break
            }
        }
        return result
    }

    func resolve(_ schema: Node) -> Node {
        guard case .string(let ref)? = schema["$ref"]?.value.value, ref.hasPrefix("#/") else { return schema }
        var node = root
        for part in ref.dropFirst(2).split(separator: "/") {
            guard let next = node[String(part)]?.value else { return schema }
            node = next
        }
        return node
    }

    static func equal(_ a: Node, _ b: Node) -> Bool {
        switch (a.value, b.value) {
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)): return Double(x) == Double(y)
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    func check(_ instance: Node, against schemaNode: Node, path: String, into out: inout [String]) {
        let schema = resolve(schemaNode)
        if case .bool(let allowed) = schema.value {
            if !allowed { out.append("\(path): not allowed") }
            return
        }
        if case .string(let type)? = schema["type"]?.value.value {
            let ok: Bool
            switch (type, instance.value) {
            case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number): ok = true
            case ("integer", .number(let text)): ok = Int(text) != nil
            default: ok = false
            }
            if !ok {
                out.append("\(path): expected \(type)")
                return
            }
        }
        if case .array(let options)? = schema["enum"]?.value.value, !options.contains(where: { Self.equal($0, instance) }) {
            out.append("\(path): not one of the enum values")
        }
        if let constant = schema["const"]?.value, !Self.equal(constant, instance) {
            out.append("\(path): not the constant")
        }
        if case .number(let text) = instance.value, let value = Double(text) {
            if case .number(let min)? = schema["minimum"]?.value.value, value < Double(min)! { out.append("\(path): below minimum") }
            if case .number(let max)? = schema["maximum"]?.value.value, value > Double(max)! { out.append("\(path): above maximum") }
        }
        if case .string(let text) = instance.value {
            if case .number(let min)? = schema["minLength"]?.value.value, text.count < Int(min)! { out.append("\(path): too short") }
            if case .string(let pattern)? = schema["pattern"]?.value.value {
                let regex = try! Regex(pattern)
                if (try? regex.firstMatch(in: text)) == nil { out.append("\(path): does not match \(pattern)") }
            }
        }
        if case .array(let alternatives)? = schema["anyOf"]?.value.value {
            let matches = alternatives.contains { alternative in
                var scratch: [String] = []
                check(instance, against: alternative, path: path, into: &scratch)
                return scratch.isEmpty
            }
            if !matches { out.append("\(path): matches none of anyOf") }
        }
        if case .array(let items) = instance.value {
            if case .number(let min)? = schema["minItems"]?.value.value, items.count < Int(min)! { out.append("\(path): too few items") }
            if let itemSchema = schema["items"]?.value {
                for (index, item) in items.enumerated() { check(item, against: itemSchema, path: "\(path)[\(index)]", into: &out) }
            }
        }
        if let members = instance.members {
            if case .array(let required)? = schema["required"]?.value.value {
                for case .string(let key) in required.map(\.value) where instance[key] == nil { out.append("\(path): missing \(key)") }
            }
            for dependency in schema["dependentRequired"]?.value.members ?? [] where instance[dependency.key] != nil {
                if case .array(let required) = dependency.value.value {
                    for case .string(let key) in required.map(\.value) where instance[key] == nil {
                        out.append("\(path): \(dependency.key) needs \(key)")
                    }
                }
            }
            let properties = schema["properties"]?.value
            for member in members {
                if let propertySchema = properties?[member.key]?.value {
                    check(member.value, against: propertySchema, path: "\(path).\(member.key)", into: &out)
                } else if let additional = schema["additionalProperties"]?.value {
                    check(member.value, against: additional, path: "\(path).\(member.key)", into: &out)
                }
            }
        }
    }
}

@Suite("JSON Schema of the format")
struct JSONSchemaTests {
    static func checker() throws -> JSONSchemaChecker {
        let url = Fixtures.schemasDirectory.appendingPathComponent("JSONSchema/zgen.schema.json")
        return JSONSchemaChecker(root: try JSONReader.parse(Fixtures.bytes(url)))
    }

    /// Every JSON file in the repository that zgen accepts as a valid schema.
    static func validJSONSchemas() -> [URL] {
        var result: [URL] = []
        let root = Fixtures.repositoryRoot
        let skip = ["/.build", "/.git/", "/.swiftpm", "/Invalid/", "/JSONSchema/", "/Generated/", "/node_modules/"]
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isDirectoryKey]) else { return [] }
        for case let url as URL in enumerator {
            let name = url.lastPathComponent
            if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                if name.hasPrefix(".") || name == "Generated" || name == "Invalid" { enumerator.skipDescendants() }
                continue
            }
            let path = url.path
            guard url.pathExtension == "json", !skip.contains(where: { path.contains($0) }) else { continue }
            let bytes = Fixtures.bytes(url)
            guard bytes.count < 1_000_000, let node = try? JSONReader.parse(bytes), node["zgen"] != nil else { continue }
            if ZGen.parse(schemaAt: url.lastPathComponent, contents: bytes).schema != nil { result.append(url) }
        }
        return result.sorted { $0.path < $1.path }
    }

    @Test("the JSON Schema uses only keywords the checker understands")
    func keywords() throws {
        #expect(try Self.checker().unsupportedKeywords() == [])
    }

    @Test("the JSON Schema accepts every valid JSON schema in the repository")
    func acceptsValid() throws {
        let checker = try Self.checker()
        let schemas = Self.validJSONSchemas()
        #expect(schemas.contains { $0.lastPathComponent == "my_zmq.json" })
        #expect(schemas.count >= 3)
        for url in schemas {
            let problems = checker.problems(try JSONReader.parse(Fixtures.bytes(url)))
            #expect(problems.isEmpty, "\(url.path): \(problems)")
        }
    }

    @Test("the JSON Schema rejects what an editor should flag")
    func rejects() throws {
        let checker = try Self.checker()
        let bad = [
            #"{"zgen": 2, "app": "a"}"#,
            #"{"zgen": 1}"#,
            #"{"zgen": 1, "app": "a", "deamons": {}}"#,
            #"{"zgen": 1, "app": "a", "daemons": {"A": {"channels": {"a": {"socket": "PUL", "endpoint": "inproc://a"}}}}}"#,
            #"{"zgen": 1, "app": "a", "daemons": {"A": {"channels": {"a": {"socket": "PULL", "endpoint": "localhost:1"}}}}}"#,
            #"{"zgen": 1, "app": "a", "messages": {"M": {"frames": [{"name": "x", "type": "int33"}]}}}"#,
            #"{"zgen": 1, "app": "a", "daemons": {"A": {"channels": {"a": {"socket": "PULL", "endpoint": "inproc://a", "hwm": -1}}}}}"#,
        ]
        for text in bad {
            #expect(!checker.problems(try JSONReader.parse(text)).isEmpty, "\(text)")
        }
    }
}

/// The JSON Schema for editors spells out the vocabulary again (it cannot import Swift); this
/// holds it to ZGenVocabulary, so the two cannot drift apart.
@Suite("JSON Schema and the vocabulary")
struct JSONSchemaVocabularyTests {
    static func channel() throws -> [String: Any] {
        let url = Fixtures.schemasDirectory.appendingPathComponent("JSONSchema/zgen.schema.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let defs = try #require(root["$defs"] as? [String: Any])
        let channel = try #require(defs["channel"] as? [String: Any])
        return try #require(channel["properties"] as? [String: Any])
    }

    @Test("socket types, security modes, defaults and option ranges are ZGenVocabulary's")
    func matches() throws {
        let properties = try Self.channel()
        // Every key the validator takes on a channel (`sender` included) is in the JSON Schema, and no other.
        #expect(Set(properties.keys) == Set(Validator.channelKeys))
        let socket = try #require(properties["socket"] as? [String: Any])
        #expect(socket["enum"] as? [String] == SocketType.allCases.map(\.rawValue))
        let security = try #require(properties["security"] as? [String: Any])
        #expect(security["enum"] as? [String] == ChannelSecurity.allCases.map(\.rawValue))
        for (key, range, fallback) in [("hwm", ChannelLimits.hwm, ChannelLimits.defaultHWM),
                                       ("queue", ChannelLimits.queue, ChannelLimits.defaultQueue)] {
            let property = try #require(properties[key] as? [String: Any])
            #expect(property["minimum"] as? Int == range.lowerBound, "\(key)")
            #expect(property["maximum"] as? Int == range.upperBound, "\(key)")
            #expect(property["default"] as? Int == fallback, "\(key)")
        }
        for (key, range) in [("linger", ChannelLimits.linger), ("timeout", ChannelLimits.timeout)] {
            let property = try #require(properties[key] as? [String: Any])
            #expect(property["minimum"] as? Int == range.lowerBound, "\(key)")
            #expect(property["maximum"] as? Int == range.upperBound, "\(key)")
        }
        let options = try #require((properties["options"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(Set(options.keys) == Set(ChannelOption.allCases.map(\.schemaKey)))
        for option in ChannelOption.allCases {
            let property = try #require(options[option.schemaKey] as? [String: Any])
            switch option.kind {
            case .integer(let range):
                #expect(property["type"] as? String == "integer", "\(option)")
                #expect(property["minimum"] as? Int == range.lowerBound, "\(option)")
                #expect(property["maximum"] as? Int == range.upperBound, "\(option)")
            case .flag:
                #expect(property["type"] as? String == "boolean", "\(option)")
            }
        }
    }
}

import Testing

@testable import ZGenCore

@Suite("JSON reader")
struct JSONReaderTests {
    @Test("keys and values keep their line and column")
    func positions() throws {
        let text = "{\n  \"a\": 1,\n  \"bé\": [true, null, \"x\"],\n\t\"c\": {\"d\": -2.5e3}\n}"
        let root = try JSONReader.parse(text)
        #expect(root.location == SourceLocation(line: 1, column: 1))
        let members = try #require(root.members)
        #expect(members.map(\.key) == ["a", "bé", "c"])
        #expect(members[0].keyLocation == SourceLocation(line: 2, column: 3))
        #expect(members[0].value.location == SourceLocation(line: 2, column: 8))
        #expect(members[0].value.value == .number("1"))
        // Columns count UTF-8 bytes, as the compiler does: "bé" is 3 bytes + 2 quotes.
        #expect(members[1].value.location == SourceLocation(line: 3, column: 10))
        guard case .array(let items) = members[1].value.value else {
            Issue.record("expected an array")
            return
        }
        #expect(items.map(\.location.column) == [11, 17, 23])
        #expect(items[2].value == .string("x"))
        #expect(members[2].keyLocation == SourceLocation(line: 4, column: 2))
        let d = try #require(members[2].value["d"])
        #expect(d.value.value == .number("-2.5e3"))
        #expect(d.value.location == SourceLocation(line: 4, column: 13))
    }

    @Test("escapes, surrogate pairs and a byte-order mark")
    func escapes() throws {
        let root = try JSONReader.parse("\u{FEFF}{\"k\": \"a\\n\\\"\\u00e9\\ud83d\\ude00\\/\"}")
        #expect(root["k"]?.value.value == .string("a\n\"é😀/"))
    }

    @Test("duplicate keys are kept for the validator to report")
    func duplicates() throws {
        let root = try JSONReader.parse(#"{"a": 1, "a": 2}"#)
        #expect(root.members?.count == 2)
    }

    @Test(
        "syntax errors name the place",
        arguments: [
            ("", "1:1", "empty file: expected a JSON object"),
            ("{", "1:2", "unexpected end of file: expected a key (object opened at 1:1)"),
            ("{\"a\" 1}", "1:6", "unexpected `1`: expected `:` after the key"),
            ("[1,]", "1:4", "trailing comma before `]`"),
            ("\"abc", "1:1", "unterminated string"),
            ("{\"a\": tru}", "1:7", "invalid literal: expected `true`"),
            ("[1] [2]", "1:5", "unexpected `[` after the end of the JSON value"),
            ("\"\\ud800\"", "1:2", "unpaired UTF-16 surrogate in \\u escape"),
            ("[-]", "1:2", "invalid number"),
            ("\"a\u{01}\"", "1:3", "control character in string must be escaped"),
        ])
    func syntaxErrors(text: String, location: String, message: String) {
        #expect(throws: JSONReader.SyntaxError.self) { try JSONReader.parse(text) }
        do {
            _ = try JSONReader.parse(text)
        } catch {
            #expect(error.location.description == location)
            #expect(error.message == message)
        }
    }

    @Test("deep nesting is an error, not a stack overflow")
    func deepNesting() {
        for opener in ["[", "{\"a\":"] {
            let text = String(repeating: opener, count: 100_000)
            do {
                _ = try JSONReader.parse(text)
                Issue.record("expected an error")
            } catch {
                #expect(error.message == "nesting deeper than \(JSONReader.maximumDepth) levels")
            }
        }
        let fine = String(repeating: "[", count: JSONReader.maximumDepth) + String(repeating: "]", count: JSONReader.maximumDepth)
        #expect(throws: Never.self) { try JSONReader.parse(fine) }
    }
}

@Suite("INI schema reader")
struct INISchemaReaderTests {
    static let text = """
        [zgen]
        version = 1
        app = demo

        [message:Item]
        frames = id:uint64, payload:json(Order)*
        description.id = The id.

        [daemon:Server]
        title = (demo:server)

        [channel:Server.out]
        socket = PUSH
        endpoint = tcp://*:1, inproc://x
        options.heartbeatIvl = 100
        """

    @Test("sections become the JSON form's tree, positions included")
    func tree() throws {
        let (root, hasHeader, diagnostics) = try #require(INISchemaReader.tree(fromINI: Self.text))
        #expect(hasHeader)
        #expect(diagnostics.isEmpty)
        #expect(root["version"]?.keyLocation == SourceLocation(line: 2, column: 1))
        #expect(root["app"]?.value.location == SourceLocation(line: 3, column: 7))

        let message = try #require(root["[messages]"]?.value["Item"])
        #expect(message.keyLocation == SourceLocation(line: 5, column: 10))
        guard case .array(let frames)? = message.value["frames"]?.value.value else {
            Issue.record("frames are not an array")
            return
        }
        #expect(frames.count == 2)
        #expect(frames[0].location == SourceLocation(line: 6, column: 10))
        #expect(frames[0]["type"]?.value.location == SourceLocation(line: 6, column: 13))
        #expect(frames[0]["description"]?.value.value == .text("The id.", isQuoted: false, items: [Node.ListItem(text: "The id.", location: SourceLocation(line: 7, column: 18), isQuoted: false)]))
        #expect(frames[1]["type"]?.value.location == SourceLocation(line: 6, column: 29))
        #expect(frames[1]["swiftType"]?.value.value == .text("Order", isQuoted: false, items: []))
        #expect(frames[1]["swiftType"]?.value.location == SourceLocation(line: 6, column: 34))
        #expect(frames[1]["repeated"]?.value.value == .bool(true))

        let daemon = try #require(root["[daemons]"]?.value["Server"])
        #expect(daemon.keyLocation == SourceLocation(line: 9, column: 9))
        let channel = try #require(daemon.value["[channels]"]?.value["out"])
        #expect(channel.keyLocation == SourceLocation(line: 12, column: 17))
        guard case .text(_, _, let items)? = channel.value["endpoint"]?.value.value else {
            Issue.record("endpoint is not text")
            return
        }
        #expect(items.map(\.text) == ["tcp://*:1", "inproc://x"])
        #expect(items.map(\.location.column) == [12, 23])
        let option = try #require(channel.value["options"]?.value["heartbeatIvl"])
        #expect(option.keyLocation == SourceLocation(line: 15, column: 9))
        #expect(option.value.location == SourceLocation(line: 15, column: 24))
    }

    @Test("the runtime's sections are skipped without a word")
    func runtimeSections() {
        for name in ["app:demo", "loggers", "handlers", "formatters", "logger_root", "handler_console", "formatter_generic", "run:Server"] {
            #expect(INISchemaReader.isRuntimeSection(name), "\(name)")
        }
        for name in ["app", "logger", "runner", "zgen2", "messages"] {
            #expect(!INISchemaReader.isRuntimeSection(name), "\(name)")
        }
    }
}

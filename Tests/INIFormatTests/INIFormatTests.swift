import Testing

@testable import INIFormat

@Suite("INI reader")
struct INIFormatTests {
    @Test("reads sections, keys and values with their positions")
    func positions() throws {
        let text = """
            [app:my_zmq]
            use = egg:cs.eyrie

            [channel:MyServer.job]
              socket: PUSH
            endpoint=tcp://*:9090   # trailing comment
            """
        let document = try INIParser.parse(text)
        #expect(document.sections.map(\.name) == ["app:my_zmq", "channel:MyServer.job"])
        #expect(document.sections[0].position == SourcePosition(line: 1, column: 1))
        let use = try #require(document.section("app:my_zmq")?["use"])
        #expect(use.value == "egg:cs.eyrie")
        #expect(use.keyPosition == SourcePosition(line: 2, column: 1))
        #expect(use.valuePosition == SourcePosition(line: 2, column: 7))
        let channel = try #require(document.section("channel:MyServer.job"))
        #expect(channel["socket"]?.value == "PUSH")
        #expect(channel["socket"]?.keyPosition == SourcePosition(line: 5, column: 3))
        #expect(channel["endpoint"]?.value == "tcp://*:9090")
        #expect(channel["endpoint"]?.valuePosition == SourcePosition(line: 6, column: 10))
    }

    @Test("keys are case-sensitive, later keys win, repeats are kept")
    func repeats() throws {
        let document = try INIParser.parse("[a]\nKey = 1\nkey = 2\nkey = 3\n")
        let section = try #require(document.section("a"))
        #expect(section["Key"]?.value == "1")
        #expect(section["key"]?.value == "3")
        #expect(section.entries.count == 3)
    }

    @Test("comments: full lines, and inline only after whitespace and outside quotes")
    func comments() throws {
        let document = try INIParser.parse(
            """
            # a comment
            ; another
            [s]
            a = x ; gone
            b = x;kept
            c = "y # kept" # gone
            d = ipc:///tmp/a#b
            """)
        let section = try #require(document.section("s"))
        #expect(section["a"]?.value == "x")
        #expect(section["b"]?.value == "x;kept")
        #expect(section["c"]?.value == "y # kept")
        #expect(section["c"]?.isQuoted == true)
        #expect(section["d"]?.value == "ipc:///tmp/a#b")
    }

    @Test("quoted values are literal; empty and quoted-empty lists differ")
    func quotedLists() throws {
        let document = try INIParser.parse("[s]\nnone =\nempty = \"\"\nthree = a, \"b, c\" ,d\n")
        let section = try #require(document.section("s"))
        #expect(section["none"]?.listItems() == [])
        let empty = try #require(section["empty"]?.listItems())
        #expect(empty.map(\.value) == [""])
        #expect(empty.map(\.isQuoted) == [true])
        let three = try #require(section["three"]?.listItems())
        #expect(three.map(\.value) == ["a", "b, c", "d"])
        #expect(three.map(\.position.column) == [9, 12, 20])
        #expect(three.map(\.isQuoted) == [false, true, false])
    }

    @Test("indented lines continue the previous value")
    func continuation() throws {
        let document = try INIParser.parse("[s]\nkeys = a,\n    b\nnext = 1\n")
        let section = try #require(document.section("s"))
        #expect(section["keys"]?.value == "a,\nb")
        let items = try #require(section["keys"]?.listItems())
        #expect(items.map(\.value) == ["a", "b"])
        #expect(items[1].position == SourcePosition(line: 3, column: 5))
        #expect(section["next"]?.value == "1")
    }

    @Test("reads the seed's logging configuration")
    func seedFile() throws {
        let document = try INIParser.parse(
            """
            [handler_console]
            class = logging.StreamHandler
            args=(sys.stderr,)

            [formatter_generic]
            format = %(processName)-13s %(message)s
            """)
        #expect(document.section("handler_console")?["args"]?.value == "(sys.stderr,)")
        #expect(document.section("formatter_generic")?["format"]?.value == "%(processName)-13s %(message)s")
    }

    @Test(
        "syntax errors name the line and what is wrong",
        arguments: [
            ("[s\n", "1:1: section header is missing its closing ']'"),
            ("[s]\njust words\n", "2:1: expected 'key = value' or a '[section]', found 'just words'"),
            ("key = 1\n", "1:1: key 'key' comes before any [section]"),
            ("[s]\n  = 3\n", "2:3: missing key before '='"),
            ("[ ]\n", "1:1: section header has no name"),
        ])
    func syntaxErrors(text: String, expected: String) {
        #expect(throws: INISyntaxError.self) { try INIParser.parse(text) }
        do {
            _ = try INIParser.parse(text)
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test("a byte-order mark and CRLF line ends are accepted")
    func bomAndCRLF() throws {
        let document = try INIParser.parse("\u{FEFF}[s]\r\na = 1\r\n")
        #expect(document.section("s")?["a"]?.value == "1")
    }
}

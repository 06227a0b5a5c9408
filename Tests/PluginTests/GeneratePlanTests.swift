import Testing

// GeneratePlan.swift and OutputNaming.swift in this folder are symlinks to the command plugin's
// planning file and ZGenCore's naming file: the very code `zgen-generate` runs.

@Suite("zgen-generate's plan")
struct GeneratePlanTests {
    @Test("every top-level .json and .ini schema goes flat into Generated/, a JSON schema winning over its INI twin")
    func allSchemas() throws {
        let plan = try GeneratePlan(
            schemaFiles: ["my_zmq.ini", "my_zmq.json", "bench.json", "only.ini", "README.md", ".hidden.json"],
            generatedFiles: [],
            requested: []
        )
        #expect(plan.jobs == [
            .init(schema: "Schemas/bench.json", outputDirectory: "Generated", output: "Generated/Bench.swift"),
            .init(schema: "Schemas/my_zmq.json", outputDirectory: "Generated", output: "Generated/MyZmq.swift"),
            .init(schema: "Schemas/only.ini", outputDirectory: "Generated", output: "Generated/Only.swift"),
        ])
        #expect(plan.orphans.isEmpty)
    }

    @Test("generated files whose schema is gone are orphans, whichever schemas were named")
    func orphans() throws {
        let plan = try GeneratePlan(
            schemaFiles: ["my_zmq.json"],
            generatedFiles: ["Generated/MyZmq.swift", "Generated/Gone.swift"],
            requested: ["my_zmq.json"]
        )
        #expect(plan.jobs.map(\.output) == ["Generated/MyZmq.swift"])
        #expect(plan.orphans == ["Generated/Gone.swift"])
    }

    @Test("a schema can be named by file name, path, INI twin or output name")
    func namedSchemas() throws {
        for request in ["my_zmq.json", "Schemas/my_zmq.json", "my_zmq.ini", "MyZmq.swift", "MyZmq"] {
            let plan = try GeneratePlan(schemaFiles: ["my_zmq.json", "my_zmq.ini", "bench.json"], generatedFiles: [], requested: [request])
            #expect(plan.jobs.map(\.schema) == ["Schemas/my_zmq.json"], "\(request)")
        }
    }

    @Test("an unknown name and two JSON schemas for one output are errors")
    func problems() {
        #expect(throws: GeneratePlan.Problem.self) {
            try GeneratePlan(schemaFiles: ["my_zmq.json"], generatedFiles: [], requested: ["nope.json"])
        }
        #expect(throws: GeneratePlan.Problem.self) {
            try GeneratePlan(schemaFiles: ["my_zmq.json", "my_zmq.zgen.json"], generatedFiles: [], requested: [])
        }
    }

    @Test("--schemas and --generated move both folders")
    func customFolders() throws {
        let plan = try GeneratePlan(
            schemaFiles: ["a.json"], generatedFiles: [], requested: [], schemasDirectory: "Spec", generatedDirectory: "Sources/Gen")
        #expect(plan.jobs == [.init(schema: "Spec/a.json", outputDirectory: "Sources/Gen", output: "Sources/Gen/A.swift")])
    }
}

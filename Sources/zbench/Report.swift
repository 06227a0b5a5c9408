import Foundation
import CZeroMQ

/// Medians and percentiles of samples.
enum Stats {
    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = fraction * Double(sorted.count - 1)
        let low = Int(rank.rounded(.down))
        let high = Int(rank.rounded(.up))
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - Double(low))
    }
}

/// C and Swift rates of one case, pair by pair.
struct Comparison: Codable {
    var c: [Double]
    var swift: [Double]
    var ratios: [Double] { zip(swift, c).map { $0 / $1 } }
    var cMedian: Double { Stats.median(c) }
    var swiftMedian: Double { Stats.median(swift) }
    var ratioMedian: Double { Stats.median(ratios) }

    enum CodingKeys: String, CodingKey { case c, swift, ratios, cMedian, swiftMedian, ratioMedian }

    init(c: [Double], swift: [Double]) {
        self.c = c
        self.swift = swift
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        c = try container.decode([Double].self, forKey: .c)
        swift = try container.decode([Double].self, forKey: .swift)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(c, forKey: .c)
        try container.encode(swift, forKey: .swift)
        try container.encode(ratios, forKey: .ratios)
        try container.encode(cMedian, forKey: .cMedian)
        try container.encode(swiftMedian, forKey: .swiftMedian)
        try container.encode(ratioMedian, forKey: .ratioMedian)
    }
}

struct ThroughputRow: Codable {
    var kind: String
    var transport: String
    /// The message's shape (``Shape``).
    var frame: String
    /// How the handler takes it (``Form``), or `typed send`.
    var handler: String
    var messages: Int
    var result: Comparison
}

struct LatencyRow: Codable {
    var size: Int
    var roundTrips: Int
    var cMedian: Double
    var cP99: Double
    var swiftMedian: Double
    var swiftP99: Double
    var ratioMedian: Double
    var ratioMin: Double
    var ratioMax: Double
}

struct GeneratorRow: Codable {
    var channels: Int
    var seconds: Double
    var growth: Double?
}

struct StartupRow: Codable {
    var startupMedianMs: Double
    var startupMaxMs: Double
    var idleCPUPercent: Double
}

struct SendingRow: Codable {
    var messages: Int
    var loopNanoseconds: Double
    var taskNanoseconds: Double
}

struct RequestRow: Codable {
    var roundTrips: Int
    var cReqRepMedian: Double
    var swiftReqRepMedian: Double
    var loopRequestMedian: Double
    var awaitedRequestMedian: Double
}

struct ReceivingRow: Codable {
    var messages: Int
    var handlerNanoseconds: Double
    var streamNanoseconds: Double
}

struct MemoryRow: Codable {
    var messages: Int
    var rssMiB: Double
}

struct PythonRow: Codable {
    var messagesPerSecond: Double?
    var ratioToC: Double?
    var note: String?

    init(messagesPerSecond: Double? = nil, ratioToC: Double? = nil, note: String?) {
        self.messagesPerSecond = messagesPerSecond
        self.ratioToC = ratioToC
        self.note = note
    }
}

/// What the machine is, printed above the tables.
enum Machine {
    static func describe() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = ProcessInfo.processInfo.physicalMemory / (1 << 30)
        #if DEBUG
            let build = "debug build (numbers are not representative: use -c release)"
        #else
            let build = "release build"
        #endif
        return "\(cpu), \(cores) cores, \(memory) GiB; libzmq \(libzmqVersion()); \(build)"
    }

    static func libzmqVersion() -> String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}

/// Everything one run measured.
struct Report: Codable {
    var machine: String
    var quick: Bool
    var pairs: Int
    var throughput: [ThroughputRow] = []
    var typedSends: [ThroughputRow] = []
    var latency: [LatencyRow] = []
    var generator: [GeneratorRow] = []
    var startup: StartupRow?
    var memory: [MemoryRow] = []
    var python: PythonRow?
    var sending: SendingRow?
    var receiving: ReceivingRow?
    var requests: RequestRow?

    init(machine: String, quick: Bool, pairs: Int) {
        self.machine = machine
        self.quick = quick
        self.pairs = pairs
    }

    private static func rate(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2f M", value / 1e6) : String(format: "%.0f k", value / 1e3)
    }

    private static func table(_ rows: [ThroughputRow]) -> String {
        var out = "| pattern | transport | message | handler | messages | C | generated Swift | ratio |\n|---|---|---|---|---:|---:|---:|---|\n"
        for row in rows {
            let ratios = row.result.ratios
            out += "| \(row.kind) | \(row.transport) | \(row.frame) | \(row.handler) | \(row.messages) | \(Self.rate(row.result.cMedian)) | \(Self.rate(row.result.swiftMedian)) | "
            out += String(format: "%.3f [%.3f–%.3f]", row.result.ratioMedian, ratios.min() ?? 0, ratios.max() ?? 0) + " |\n"
        }
        return out
    }

    private static func size(_ bytes: Int) -> String {
        bytes >= 1024 ? "\(bytes / 1024) KiB" : "\(bytes) B"
    }

    /// The Markdown tables that README's "Performance" section shows.
    func markdown() -> String {
        var out = "## zbench\n\n\(machine); \(pairs) C/Swift pair(s) per case\(quick ? "; QUICK MODE (counts too small to mean anything)" : "").\n\n"
        out += "### Throughput (messages/s; ratio = generated daemon ÷ C, median of pairs [min–max])\n\n"
        out += "The handler reads every field: `owned` gets the generated message struct, `borrowed` (`\"borrow\": true`) the fields in place.\n\n"
        out += Self.table(throughput)
        out += "\n### Typed send from a handler on the loop against C's `zmq_send` loop (messages/s; inproc, to a C PULL)\n\n"
        out += Self.table(typedSends)
        out += "\n### Latency, REQ→REP round trip over tcp (µs)\n\n"
        out += "| frame | round trips | C median | C p99 | Swift median | Swift p99 | ratio of medians |\n|---|---:|---:|---:|---:|---:|---|\n"
        for row in latency {
            out += String(
                format: "| %@ | %d | %.1f | %.1f | %.1f | %.1f | %.3f [%.3f–%.3f] |\n", Self.size(row.size), row.roundTrips,
                row.cMedian, row.cP99, row.swiftMedian, row.swiftP99, row.ratioMedian, row.ratioMin, row.ratioMax)
        }
        if let requests {
            out += "\n### Requests, 16 B round trip over tcp (µs, medians): REQ/REP against a request channel (DEALER→ROUTER)\n\n"
            out += "| round trips | C REQ→REP | Swift REQ→REP (handler) | request channel, from the loop | request channel, awaited from a task |\n|---:|---:|---:|---:|---:|\n"
            out += String(format: "| %d | %.1f | %.1f | %.1f | %.1f |\n", requests.roundTrips, requests.cReqRepMedian, requests.swiftReqRepMedian,
                          requests.loopRequestMedian, requests.awaitedRequestMedian)
        }
        out += "\n### Generator (parse + validate + render, in process)\n\n| channels | seconds | growth vs previous (×10 channels) |\n|---:|---:|---:|\n"
        for row in generator {
            out += String(format: "| %d | %.4f | %@ |\n", row.channels, row.seconds, row.growth.map { String(format: "%.1f×", $0) } ?? "–")
        }
        if let startup {
            out += "\n### Daemon start-up and idle\n\n| start-up to \"has begun processing messages\" (median / max) | idle CPU |\n|---|---|\n"
            out += String(format: "| %.2f ms / %.2f ms | %.3f %% |\n", startup.startupMedianMs, startup.startupMaxMs, startup.idleCPUPercent)
        }
        if !memory.isEmpty {
            out += "\n### Memory under a long PUSH→PULL stream (16 B, default high-water marks)\n\n| messages received | resident set size of the process |\n|---:|---:|\n"
            for row in memory { out += String(format: "| %d | %.1f MiB |\n", row.messages, row.rssMiB) }
        }
        if let sending {
            out += "\n### Sending 16 B over inproc: from a handler on the loop, or awaited from a task (`DaemonClient.send`)\n\n"
            out += "| messages | from the loop | awaited from a task | ratio |\n|---:|---:|---:|---:|\n"
            out += String(format: "| %d | %.0f ns | %.0f ns | %.1f× |\n", sending.messages, sending.loopNanoseconds,
                          sending.taskNanoseconds, sending.taskNanoseconds / sending.loopNanoseconds)
        }
        if let receiving {
            out += "\n### Receiving 16 B over inproc: a handler on the loop, or a task reading the channel's stream (`for try await`)\n\n"
            out += "| messages | handler | stream | ratio |\n|---:|---:|---:|---:|\n"
            out += String(format: "| %d | %.0f ns | %.0f ns | %.1f× |\n", receiving.messages, receiving.handlerNanoseconds,
                          receiving.streamNanoseconds, receiving.streamNanoseconds / receiving.handlerNanoseconds)
        }
        if let python {
            out += "\n### pyzmq (the seed's engine), blocking receive loop, PUSH→PULL tcp 16 B\n\n"
            if let rate = python.messagesPerSecond {
                out += "| pyzmq | ratio to C |\n|---:|---|\n| \(Self.rate(rate)) | \(python.ratioToC.map { String(format: "%.3f", $0) } ?? "–") |\n"
            } else {
                out += (python.note ?? "skipped") + "\n"
            }
        }
        return out
    }
}

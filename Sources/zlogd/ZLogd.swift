// zlogd, the log collector: the generated LogCollector daemon (Schemas/zlogd.json →
// Generated/Zlogd.swift) with the hand-written handler below, under the process layer.
import ArgumentParser
import Foundation
import Generated
import Logging
import ZDaemon
import ZDaemonProcess

/// Writes every record received through this process's logging, and reports the rate and the
/// malformed records every `interval`.
final class Collector: Zlogd.LogCollectorHandlers {
    let interval: Duration
    private var received = 0
    private var reported = 0
    private var malformedReported = 0
    private var timer: RepeatedTask?

    init(interval: Duration) {
        self.interval = interval
    }

    func onRecords(_ message: Zlogd.ShippedRecord, daemon: Zlogd.LogCollector) throws {
        let record: LogRecord
        do {
            record = try CentralLogRecord.decode(topic: Array(message.topic.utf8), record: message.record)
        } catch {
            // The runtime drops it, counts it and logs it (repeats summarised).
            throw FrameDecodingError(message: "ShippedRecord", frame: error.frame == 0 ? "topic" : "record",
                                     index: error.frame, reason: error.reason)
        }
        received += 1
        if let state = ProcessLogging.state {
            state.emit(record)
        } else {
            daemon.logger.log(level: record.level, "\(record.processName) \(record.message)")
        }
    }

    /// The start hook: the report timer.
    func start(_ daemon: Zlogd.LogCollector) throws {
        var last = ContinuousClock.now
        timer = daemon.scheduleRepeatedTask(initialDelay: interval, delay: interval, name: "report") { daemon in
            let now = ContinuousClock.now
            let elapsed = now - last
            last = now
            let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 0.001)
            let malformed = daemon.counters(.records).dropped
            let count = self.received - self.reported
            let rate = Double(count) / seconds
            daemon.logger.info("LogCollector: \(count) records in \(Daemon.describe(self.interval)) s (\(String(format: "%.1f", rate))/s), \(malformed - self.malformedReported) malformed; since the start \(self.received) records, \(malformed) malformed")
            self.reported = self.received
            self.malformedReported = malformed
        }
    }
}

@main
struct ZLogd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zlogd",
        abstract: "The log collector: receives what daemons' ZMQHandlers publish and writes it through its own logging.",
        discussion: """
            zlogd binds tcp://*:9020 (change it with [run:LogCollector.records] endpoint = …, \
            ZGEN_LOGCOLLECTOR_RECORDS_ENDPOINT or --set LogCollector.records.endpoint=…; several, \
            comma-separated). Daemons connect to it with a ZMQHandler in their INI:

              [handler_central]
              class = ZMQHandler
              args = ('tcp://127.0.0.1:9020',)

            Every record is written through zlogd's own [loggers] and [handlers] (its title is the \
            sender's process title, %(hostname)s and %(app)s name where it came from); a ZMQHandler \
            in zlogd's own configuration is left out, so it never ships its own logs. Every \
            --report-interval it logs its rate and how many records were malformed (dropped and \
            counted; a malformed record never stops it). CURVE: security = curve, \
            curve_secret_key_file and curve_allow_dir in [run:LogCollector.records]. SIGHUP rereads \
            the logging sections and the allow-list. See README, "Centralized logging".

            Exit statuses: 0 ok, 1 failure, 64 usage, 69 the endpoint could not be bound, \
            75 the shutdown deadline passed, 78 configuration.
            """)

    @OptionGroup var process: ProcessOptions

    @Option(help: ArgumentHelp("Seconds between the rate and malformed-record reports.", valueName: "seconds"))
    var reportInterval: Double = 10

    func validate() throws {
        guard reportInterval > 0 else { throw ValidationError("--report-interval must be a positive number of seconds") }
    }

    func run() async throws {
        let interval = Duration.milliseconds(Int64((reportInterval * 1000).rounded()))
        ProcessLogging.shipsLogs = false
        try await DaemonProcess.run(
            process,
            daemons: [
                DaemonProgram(Zlogd.LogCollector.spec) { context in
                    let collector = Collector(interval: interval)
                    let daemon = try Zlogd.LogCollector(handlers: collector, configuration: context.configuration)
                    daemon.onStart(collector.start)
                    return daemon
                },
            ])
    }
}

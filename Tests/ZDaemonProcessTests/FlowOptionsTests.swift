import INIFormat
import Testing

@testable import ZDaemon
@testable import ZDaemonProcess
import ZDaemonTesting

/// Issue 7's process-level switches: the `xpub_no_drop` channel override and `--socket-events`.
@Suite("Flow-control and socket-event options")
struct FlowOptionsTests {
    let spec = DaemonSpec(name: "Feed", title: "(feed)", app: "feed", channels: [
        ChannelSpec(name: "news", socket: .xpub, endpoints: ["tcp://*:7301"], bind: true),
    ])

    @Test func xpubNoDropOverrideFromINIAndCommandLine() throws {
        let document = try INIParser.parse("[run:Feed.news]\nxpub_no_drop = true\n")
        let fromINI = try RuntimeConfiguration(document: document, path: "feed.ini", specs: [spec], environment: [:], assignments: [])
        #expect(fromINI.overrides["Feed"]?["news"]?.options.xpubNoDrop == true)
        let fromSet = try RuntimeConfiguration(document: document, path: "feed.ini", specs: [spec], environment: [:],
                                               assignments: ["Feed.news.xpub_no_drop=false"])
        #expect(fromSet.overrides["Feed"]?["news"]?.options.xpubNoDrop == false)
        #expect(RuntimeConfiguration.overrideKeys.contains("xpub_no_drop"))
    }

    @Test func socketEventsFlag() throws {
        #expect(try ProcessOptions.parse(["-c", "feed.ini"]).socketEvents == false)
        #expect(try ProcessOptions.parse(["-c", "feed.ini", "--socket-events"]).socketEvents == true)
    }
}

import Foundation
import INIFormat
import Testing
@testable import ZDaemon
@testable import ZDaemonSecurity
@testable import ZDaemonProcess
import ZDaemonTesting

#if canImport(Glibc)
import Glibc
#endif

@Suite("Security settings (INI, environment, --set)")
struct SettingsTests {
    let scratch: ScratchDirectory
    let server: CurveKeyPair
    let client: CurveKeyPair
    let specs = [
        DaemonSpec(name: "Server", title: "(s)", app: "t", channels: [
            ChannelSpec(name: "job", socket: .push, endpoints: ["tcp://*:9000"], bind: true),
            ChannelSpec(name: "plain", socket: .pub, endpoints: ["tcp://*:9001"], bind: true),
        ]),
        DaemonSpec(name: "Worker", title: "(w)", app: "t", channels: [
            ChannelSpec(name: "job", socket: .pull, endpoints: ["tcp://127.0.0.1:9000"]),
        ]),
    ]

    init() throws {
        scratch = try ScratchDirectory(prefix: "zgen-sec")
        _ = try scratch.directory("keys")
        _ = try scratch.directory("keys/clients")
        server = try CurveKeyPair.generate()
        client = try CurveKeyPair.generate()
        try CurveKeyFile.write(server, to: scratch.file("keys/server.key"))
        try CurveKeyFile.write(client, to: scratch.file("keys/worker.key"))
        try CurveKeyFile.write(client, to: scratch.file("keys/clients/worker.key"))
    }

    func read(_ ini: String, environment: [String: String] = [:], assignments: [String] = []) throws
        -> [String: SecurityConfiguration]
    {
        let path = try scratch.write("app.ini", ini)
        return try SecuritySettings.read(document: try INIParser.parse(ini), path: path, specs: specs,
                                         environment: environment, assignments: assignments)
    }

    @Test func perChannelSectionsWithPathsRelativeToTheFile() throws {
        let result = try read("""
            [run:Server.job]
            curve_secret_key_file = keys/server.key_secret
            curve_allow_dir = keys/clients
            deny_ips = 10.0.0.0/8

            [run:Worker.job]
            curve_secret_key_file = keys/worker.key_secret
            curve_public_key_file = keys/worker.key
            curve_server_public_key_file = keys/server.key
            """)
        let serverJob = try #require(result["Server"]).security(forChannel: "job")
        #expect(serverJob.keyPair == server)
        #expect(serverJob.policy == (try ZAPPolicy(allowedKeys: [client.publicKey], denyIPs: ["10.0.0.0/8"])))
        let (role, policy) = try #require(result["Server"]).role(forChannel: "job", daemon: "Server", isServer: true)
        #expect(role == .server(server))
        #expect(policy?.allowedKeys == [client.publicKey])
        let worker = try #require(result["Worker"]).role(forChannel: "job", daemon: "Worker", isServer: false)
        #expect(worker.role == .client(client, serverKey: server.publicKey))
        #expect(worker.policy == nil)
        // A channel nothing was said about has no keys: a clear start-up error if it is CURVE.
        #expect(throws: SecurityConfigurationError(
            "Server channel plain is a CURVE server but has no key pair (set curve_secret_key_file)")) {
            try result["Server"]!.role(forChannel: "plain", daemon: "Server", isServer: true)
        }
    }

    @Test func defaultsEnvironmentAndCommandLine() throws {
        let dir = scratch.path
        let result = try read("""
            [run:security]
            curve_allow_any = true
            """, environment: [
                "ZGEN_SECURITY_CURVE_SECRET_KEY_FILE": "\(dir)/keys/server.key_secret",
                "ZGEN_WORKER_JOB_CURVE_SECRET_KEY_FILE": "\(dir)/keys/worker.key_secret",
            ], assignments: ["Worker.job.curve_server_public_key_file=\(dir)/keys/server.key"])
        #expect(try result["Server"]!.role(forChannel: "job", daemon: "Server", isServer: true).policy?.allowAnyClient == true)
        #expect(try result["Worker"]!.role(forChannel: "job", daemon: "Worker", isServer: false).role
            == .client(client, serverKey: server.publicKey))
    }

    @Test func badKeyFilesAreConfigurationErrorsAtTheirOrigin() throws {
        chmod(scratch.file("keys/server.key_secret"), 0o644)
        let ini = """
            [run:Server.job]
            curve_secret_key_file = keys/server.key_secret
            curve_allow_any = true
            """
        let error = #expect(throws: ConfigurationError.self) { try read(ini) }
        let secret = scratch.file("keys/server.key_secret")
        #expect(error?.description == "\(scratch.file("app.ini")):2:25: error: curve_secret_key_file: \(secret): "
            + "secret key file has mode 0644: it must not be accessible by group or others (chmod 600 \(secret))")
        chmod(scratch.file("keys/server.key_secret"), 0o600)

        let missing = #expect(throws: ConfigurationError.self) {
            try read("[run:Worker.job]\ncurve_server_public_key_file = keys/nope.key\n")
        }
        #expect(missing?.description == "\(scratch.file("app.ini")):2:32: error: curve_server_public_key_file: "
            + "\(scratch.file("keys/nope.key")): cannot read key file: No such file or directory")

        let any = #expect(throws: ConfigurationError.self) { try read("[run:security]\ncurve_allow_any = maybe\n") }
        #expect(any?.message == "curve_allow_any: expected true or false, not 'maybe'")

        let unknown = #expect(throws: ConfigurationError.self) { try read("[run:security]\ncurve_secret_file = x\n") }
        #expect(unknown?.message.hasPrefix("unknown security key 'curve_secret_file' (expected curve_secret_key_file,") == true)

        let ips = #expect(throws: ConfigurationError.self) {
            try read("[run:security]\ncurve_allow_any = true\nallow_ips = 127.0.0.1, localhost\n")
        }
        #expect(ips?.description == "\(scratch.file("app.ini")):3:13: error: allow_ips: 'localhost' is not an IP address or IPv4 CIDR block")

        let mismatch = #expect(throws: ConfigurationError.self) {
            try read("[run:Worker.job]\ncurve_secret_key_file = keys/worker.key_secret\ncurve_public_key_file = keys/server.key\n")
        }
        #expect(mismatch?.message == "curve_public_key_file: \(scratch.file("keys/server.key")) is not the public key of curve_secret_key_file")
    }

    /// The daemon side: a CURVE channel without keys is an error, never plaintext; a server
    /// registers its policy once, before binding.
    @Test func channelSetup() throws {
        let context = try ZMQContext()
        let socket = try Socket(.push, context: context, name: "job")
        var registration: ZAPRegistration?
        #expect(throws: SecurityConfigurationError(
            "Server channel job is a CURVE channel but no keys are configured (set curve_secret_key_file and the client policy in [run:security] or [run:Server.job])"))
        {
            try CurveChannel.secure(socket, daemon: "Server", channel: "job", isServer: true, security: nil,
                                    registration: &registration, logger: LogCapture().makeLogger())
        }
        #expect(try socket.mechanism() == "NULL")
        let noPolicy = SecurityConfiguration(defaults: CurveChannelSecurity(keyPair: server))
        #expect(throws: SecurityConfigurationError(
            "Server channel job is a CURVE server but nothing says which clients may connect (set curve_allow_dir, or curve_allow_any = true)"))
        {
            try CurveChannel.secure(socket, daemon: "Server", channel: "job", isServer: true, security: noPolicy,
                                    registration: &registration, logger: LogCapture().makeLogger())
        }
        let logs = LogCapture()
        let security = SecurityConfiguration(defaults: CurveChannelSecurity(keyPair: server, policy: try ZAPPolicy(allowedKeys: [client.publicKey])))
        try CurveChannel.secure(socket, daemon: "Server", channel: "job", isServer: true, security: security,
                                registration: &registration, logger: logs.makeLogger())
        #expect(try socket.mechanism() == "CURVE")
        #expect(registration?.domain == "Server.job")
        #expect(ZAPHandler.shared(for: context)?.policy(domain: "Server.job")?.allowedKeys == [client.publicKey])
        #expect(logs.messages == ["Server: channel job: CURVE server, allowing 1 client key"])
        let clientSocket = try Socket(.pull, context: context, name: "job")
        var none: ZAPRegistration?
        #expect(throws: SecurityConfigurationError(
            "Worker channel job is a CURVE client but has no server public key (set curve_server_public_key_file)"))
        {
            try CurveChannel.secure(clientSocket, daemon: "Worker", channel: "job", isServer: false,
                                    security: SecurityConfiguration(defaults: CurveChannelSecurity(keyPair: client)),
                                    registration: &none, logger: logs.makeLogger())
        }
        registration?.cancel()
        #expect(ZAPHandler.shared(for: context) == nil)
    }
}

/// A typed daemon with a secured and a plaintext channel, for the typed security configuration.
struct SecuredServer: TypedDaemon {
    enum Channel: Int, DaemonChannel, CaseIterable { case plain, job }
    static let spec = DaemonSpec(name: "SecuredServer", title: "(s)", app: "t", channels: [
        ChannelSpec(name: "plain", socket: .pub, endpoints: ["tcp://127.0.0.1:*"], bind: true),
        ChannelSpec(name: "job", socket: .push, endpoints: ["tcp://127.0.0.1:*"], bind: true, security: .curve),
    ])
    let daemon: Daemon
    init(wrapping daemon: Daemon) { self.daemon = daemon }
}

@Suite("Security configuration in code")
struct TypedSecurityConfigurationTests {
    @Test("channels are named by the daemon's typed channels, and the daemon starts secured with it")
    func typedChannels() throws {
        let pair = try CurveKeyPair.generate()
        let security = SecurityConfiguration(for: SecuredServer.self, channels: [
            .job: CurveChannelSecurity(keyPair: pair, policy: try ZAPPolicy(allowAnyClient: true)),
        ])
        #expect(Array(security.channels.keys) == ["job"])
        #expect(security.security(forChannel: "job").keyPair?.publicKey == pair.publicKey)
        var configuration = DaemonConfiguration()
        configuration.context = try ZMQContext()
        configuration.security = security
        let server = SecuredServer(wrapping: try Daemon(spec: SecuredServer.spec, configuration: configuration))
        try server.daemon.open()
        #expect(server.boundEndpoints(.job).count == 1)
        #expect(server.daemon.monitorsSocketEvents(SecuredServer.Channel.job))
        #expect(!server.daemon.monitorsSocketEvents(SecuredServer.Channel.plain))
    }
}

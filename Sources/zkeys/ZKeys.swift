import ArgumentParser
import ZDaemonSecurity

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `zkeys`: makes and checks CURVE key pairs in CZMQ's zcert format for zgen daemons. It
/// links the runtime (libzmq's key generator) so that zgen itself stays free of libzmq.
@main
struct ZKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zkeys",
        abstract: "Make and check CURVE key pairs (CZMQ zcert format) for zgen daemons.",
        discussion: """
            'zkeys new server' writes server.key (the public certificate: give it to the \
            clients) and server.key_secret (mode 0600: keep it on the server). \
            Put the public files of the clients a server accepts in its curve_allow_dir.
            """,
        subcommands: [New.self, Show.self],
        defaultSubcommand: New.self
    )

    /// Prints `zkeys: error: <message>` on stderr and exits with `status`.
    static func fail(_ message: String, status: Int32) -> ExitCode {
        let line = Array("zkeys: error: \(message)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        return ExitCode(status)
    }
}

/// `zkeys new <name>`: a fresh key pair.
struct New: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new key pair: <name>.key (public) and <name>.key_secret (secret, mode 0600).")

    @Argument(help: "The pair's name: the files are <name>.key and <name>.key_secret.")
    var name: String

    @Option(name: [.short, .long], help: "The directory to write into (created with mode 0700 if missing).")
    var directory: String = "."

    @Flag(help: "Replace existing files of that name.")
    var force = false

    func run() throws {
        guard CurveSupport.isAvailable else {
            throw ZKeys.fail(CurveUnavailableError(subject: "zkeys").description, status: 69)
        }
        var info = stat()
        if stat(directory, &info) != 0 {
            guard mkdir(directory, 0o700) == 0 else {
                throw ZKeys.fail("\(directory): cannot create directory: \(String(cString: strerror(errno)))", status: 73)
            }
        }
        let base = (directory.hasSuffix("/") ? directory : directory + "/") + name + ".key"
        do {
            let pair = try CurveKeyPair.generate()
            let paths = try CurveKeyFile.write(pair, to: base, name: name, overwrite: force)
            print("public key \(pair.publicKey.z85)")
            print("wrote \(paths.publicPath) (public: give it to the peers)")
            print("wrote \(paths.secretPath) (secret, mode 0600: keep it on this host)")
        } catch let error as CurveKeyFileError {
            throw ZKeys.fail(error.description, status: 73)
        }
    }
}

/// `zkeys show <file>`: loads a key file as a daemon would and prints its public key.
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a key file as a daemon loads it and print its public key (exit 78 when unusable).")

    @Argument(help: "A public (<name>.key) or secret (<name>.key_secret) certificate file.")
    var file: String

    func run() throws {
        do {
            if file.hasSuffix(CurveKeyFile.secretSuffix) {
                let pair = try CurveKeyFile.readKeyPair(path: file)
                print("\(pair.publicKey.z85) (secret file, key pair consistent)")
            } else {
                print(try CurveKeyFile.readPublicKey(path: file).z85)
            }
        } catch {
            throw ZKeys.fail(error.description, status: 78)
        }
    }
}

import CZeroMQ
import Foundation
import Testing
import ZDaemon
import ZDaemonSecurity
import ZDaemonProcess
import ZDaemonTesting

#if canImport(Glibc)
import Glibc
#endif

@Suite("Z85 and CURVE keys")
struct Z85AndKeyTests {
    /// ZeroMQ RFC 32's test vector.
    @Test func rfc32Vector() throws {
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(try Z85.encode(bytes) == "HelloWorld")
        #expect(try Z85.decode("HelloWorld") == bytes)
    }

    /// The key pair of RFC 26's example (also libzmq's test suite's server key).
    @Test func knownKeyPair() throws {
        let secret = try CurveSecretKey(z85: "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6")
        #expect(try secret.publicKey().z85 == "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
    }

    @Test func roundTripAndAgreementWithLibzmq() throws {
        for length in stride(from: 0, through: 64, by: 4) {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            let text = try Z85.encode(bytes)
            #expect(try Z85.decode(text) == bytes)
            var buffer = [CChar](repeating: 0, count: length / 4 * 5 + 1)
            _ = bytes.withUnsafeBufferPointer { zmq_z85_encode(&buffer, $0.baseAddress, length) }
            let libzmqText = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            #expect(libzmqText == text)
        }
        // All-ones bytes use the largest digits.
        #expect(try Z85.encode([0xFF, 0xFF, 0xFF, 0xFF]) == "%nSc0")
    }

    @Test func badZ85() {
        #expect(throws: Z85Error("Z85 input of 3 bytes is not a multiple of 4")) { try Z85.encode([1, 2, 3]) }
        #expect(throws: Z85Error("Z85 text of 7 characters is not a multiple of 5")) { try Z85.decode("HelloWo") }
        #expect(throws: Z85Error("invalid Z85 character '~' at offset 3")) { try Z85.decode("Hel~oWorld") }
        #expect(throws: Z85Error("invalid Z85 character '\"' at offset 0")) { try Z85.decode("\"ello") }
        #expect(throws: Z85Error("Z85 group at offset 5 exceeds 32 bits")) { try Z85.decode("Hello#####") }
        #expect(throws: Z85Error("a CURVE key is 40 Z85 characters (32 bytes), got 10")) { try CurveKey(z85: "HelloWorld") }
        #expect(throws: Z85Error("a CURVE key is 32 bytes, got 8")) { try CurveKey(bytes: [UInt8](repeating: 0, count: 8)) }
    }

    @Test func generatedPairsAreConsistentAndSecretsNeverPrint() throws {
        try #require(CurveSupport.isAvailable)
        let pair = try CurveKeyPair.generate()
        #expect(try pair.secretKey.publicKey() == pair.publicKey)
        #expect(pair.publicKey.z85.count == 40)
        #expect(try CurveKeyPair(publicKey: pair.publicKey, secretKey: pair.secretKey) == pair)
        let other = try CurveKeyPair.generate()
        #expect(throws: CurveKeyMismatchError.self) { try CurveKeyPair(publicKey: other.publicKey, secretKey: pair.secretKey) }
        // Every way of printing a secret hides it.
        let secretText = pair.secretKey.z85
        var dumped = ""
        dump(pair, to: &dumped)
        for shown in ["\(pair)", "\(pair.secretKey)", String(reflecting: pair.secretKey), String(describing: pair), dumped] {
            #expect(!shown.contains(secretText), "\(shown)")
        }
        #expect("\(pair.secretKey)" == "<secret key>")
        #expect("\(pair)" == "key pair \(pair.publicKey.z85)")
    }
}

@Suite("CURVE key files (zcert format)")
struct KeyFileTests {
    @Test func writeThenReadBack() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let pair = try CurveKeyPair.generate()
        let paths = try CurveKeyFile.write(pair, to: scratch.file("server.key"), name: "server")
        #expect(paths.publicPath == scratch.file("server.key"))
        #expect(paths.secretPath == scratch.file("server.key_secret"))
        var info = stat()
        stat(paths.secretPath, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        stat(paths.publicPath, &info)
        #expect(info.st_mode & 0o777 == 0o644)
        #expect(try CurveKeyFile.readPublicKey(path: paths.publicPath) == pair.publicKey)
        #expect(try CurveKeyFile.readKeyPair(path: paths.secretPath) == pair)
        // The public file holds no secret.
        let publicText = try String(contentsOfFile: paths.publicPath, encoding: .utf8)
        #expect(!publicText.contains(pair.secretKey.z85))
        #expect(!publicText.contains("secret-key"))
        #expect(publicText.contains("curve\n    public-key = \"\(pair.publicKey.z85)\"\n"))
        // Not overwritten unless asked.
        #expect(throws: CurveKeyFileError(path: paths.secretPath, message: "already exists (not overwritten)")) {
            try CurveKeyFile.write(pair, to: paths.publicPath)
        }
        let replacement = try CurveKeyPair.generate()
        try CurveKeyFile.write(replacement, to: paths.publicPath, overwrite: true)
        #expect(try CurveKeyFile.readKeyPair(path: paths.secretPath) == replacement)
    }

    /// A certificate as CZMQ's zcert_save writes it (with metadata and comments) loads.
    @Test func readsCZMQCertificates() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let path = try scratch.write("czmq.key_secret", """
            #   ****  Generated on 2026-01-01 00:00:00 by CZMQ  ****
            #   ZeroMQ CURVE **Secret** Certificate
            #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

            metadata
                name = "server"
                email = 'ops@example.com'   # a comment
            curve
                public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
                secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

            """, mode: 0o600)
        let pair = try CurveKeyFile.readKeyPair(path: path)
        #expect(pair.publicKey.z85 == "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
        #expect(try CurveKeyFile.readPublicKey(path: path) == pair.publicKey)
    }

    @Test func missingFile() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let path = scratch.file("nope.key")
        #expect(throws: CurveKeyFileError(path: path, message: "cannot read key file: No such file or directory")) {
            try CurveKeyFile.readPublicKey(path: path)
        }
        #expect("\(CurveKeyFileError(path: path, message: "cannot read key file: No such file or directory"))"
            == "\(path): cannot read key file: No such file or directory")
        #expect(throws: CurveKeyFileError(path: path + "_secret", message: "cannot read secret key file: No such file or directory")) {
            try CurveKeyFile.readKeyPair(path: path + "_secret")
        }
    }

    @Test func malformedFiles() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let garbage = try scratch.write("garbage.key", "metadata\ncurve\n    public-key \"abc\n")
        #expect(throws: CurveKeyFileError(path: garbage, line: 3, message: "malformed line (expected 'name' or 'name = \"value\"')")) {
            try CurveKeyFile.readPublicKey(path: garbage)
        }
        let indent = try scratch.write("indent.key", "curve\n  public-key = \"x\"\n")
        #expect(throws: CurveKeyFileError(path: indent, line: 2, message: "indentation must be a multiple of 4 spaces")) {
            try CurveKeyFile.readPublicKey(path: indent)
        }
        let unterminated = try scratch.write("quote.key", "curve\n    public-key = \"rq:rM>}U?@Lns47E1\n")
        #expect(throws: CurveKeyFileError(path: unterminated, line: 2, message: "unterminated quoted value")) {
            try CurveKeyFile.readPublicKey(path: unterminated)
        }
        let empty = try scratch.write("empty.key", "# nothing\n")
        #expect(throws: CurveKeyFileError(path: empty, message: "no curve public-key (not a zcert certificate file?)")) {
            try CurveKeyFile.readPublicKey(path: empty)
        }
        let badZ85 = try scratch.write("badz85.key", "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf~\"\n")
        #expect(throws: CurveKeyFileError(path: badZ85, line: 2, message: "public-key is not valid Z85: invalid Z85 character '~' at offset 39")) {
            try CurveKeyFile.readPublicKey(path: badZ85)
        }
        // The public file where the secret one is expected.
        let publicOnly = try scratch.write("server.key", "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n", mode: 0o600)
        #expect(throws: CurveKeyFileError(path: publicOnly, message: "no curve secret-key (is this the public file? the secret one ends in _secret)")) {
            try CurveKeyFile.readKeyPair(path: publicOnly)
        }
        #expect(throws: CurveKeyFileError(path: scratch.path, message: "key file is a directory")) {
            try CurveKeyFile.readPublicKey(path: scratch.path)
        }
    }

    @Test func wrongLength() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let short = try scratch.write("short.key", "metadata\ncurve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"\n")
        #expect(throws: CurveKeyFileError(path: short, line: 3, message: "public-key must be 40 Z85 characters (a 32-byte key), got 39")) {
            try CurveKeyFile.readPublicKey(path: short)
        }
        let longSecret = try scratch.write("long.key_secret", """
            curve
                public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
                secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6abcde"

            """, mode: 0o600)
        let error = #expect(throws: CurveKeyFileError.self) { try CurveKeyFile.readKeyPair(path: longSecret) }
        #expect(error?.description == "\(longSecret):3: secret-key must be 40 Z85 characters (a 32-byte key), got 45")
        // Never the secret's text in the message.
        #expect(error?.description.contains("JTKVSB") == false)
    }

    @Test func mismatchedPair() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let other = try CurveKeyPair.generate()
        let path = try scratch.write("mixed.key_secret", """
            curve
                public-key = "\(other.publicKey.z85)"
                secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

            """, mode: 0o600)
        #expect(throws: CurveKeyFileError(path: path, line: 2, message: "public-key does not belong to secret-key")) {
            try CurveKeyFile.readKeyPair(path: path)
        }
    }

    @Test("a secret key file of another user is refused, as OpenSSH's StrictModes does",
          .enabled(if: getuid() == 0, "needs root, to give the file to another uid"))
    func secretOfAnotherUserIsRefused() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let paths = try CurveKeyFile.write(try CurveKeyPair.generate(), to: scratch.file("server.key"))
        #expect(chown(paths.secretPath, 65534, 65534) == 0)
        #expect(throws: CurveKeyFileError(path: paths.secretPath, message: "secret key file belongs to uid 65534, not to this uid (0) or root")) {
            try CurveKeyFile.readKeyPair(path: paths.secretPath)
        }
    }

    @Test("a secret key file or an allow-list in a directory others may write is refused")
    func keysInWritableDirectoriesAreRefused() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let pair = try CurveKeyPair.generate()
        let paths = try CurveKeyFile.write(pair, to: scratch.file("server.key"))
        #expect(chmod(scratch.path, 0o777) == 0)
        #expect(throws: CurveKeyFileError(path: scratch.path, message:
            "directory of a secret key file is writable by group or others (mode 0777): someone else could replace its keys")) {
            try CurveKeyFile.readKeyPair(path: paths.secretPath)
        }
        #expect(throws: CurveKeyFileError(path: scratch.path, message:
            "directory of an allow-list is writable by group or others (mode 0777): someone else could replace its keys")) {
            try CurveKeyFile.readPublicKeys(directory: scratch.path)
        }
        #expect(chmod(scratch.path, 0o755) == 0)
        #expect(try CurveKeyFile.readKeyPair(path: paths.secretPath) == pair)
        #expect(try CurveKeyFile.readPublicKeys(directory: scratch.path) == [pair.publicKey])
    }

    @Test func secretReadableByOthersIsRefused() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let pair = try CurveKeyPair.generate()
        let paths = try CurveKeyFile.write(pair, to: scratch.file("server.key"))
        for mode: mode_t in [0o644, 0o640, 0o604, 0o660] {
            chmod(paths.secretPath, mode)
            let shown = String(mode, radix: 8)
            #expect(throws: CurveKeyFileError(path: paths.secretPath, message:
                "secret key file has mode 0\(shown): it must not be accessible by group or others (chmod 600 \(paths.secretPath))"))
            {
                try CurveKeyFile.readKeyPair(path: paths.secretPath)
            }
        }
        chmod(paths.secretPath, 0o400)
        #expect(try CurveKeyFile.readKeyPair(path: paths.secretPath) == pair)
    }

    @Test func allowListDirectory() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let store = try scratch.directory("clients")
        let first = try CurveKeyPair.generate()
        let second = try CurveKeyPair.generate()
        try CurveKeyFile.write(first, to: store + "/first.key")
        try CurveKeyFile.write(second, to: store + "/second.key")
        try scratch.write("clients/.hidden", "not a certificate")
        let keys = try CurveKeyFile.readPublicKeys(directory: store)
        #expect(Set(keys) == [first.publicKey, second.publicKey])
        let policy = try ZAPPolicy.allowList(directory: store)
        #expect(policy.allowedKeys == [first.publicKey, second.publicKey])
        #expect(!policy.allowAnyClient)
        // A broken file in the store is an error, not a shorter list.
        let broken = try scratch.write("clients/broken.key", "curve\n    public-key = \"short\"\n")
        #expect(throws: CurveKeyFileError(path: broken, line: 2, message: "public-key must be 40 Z85 characters (a 32-byte key), got 5")) {
            try CurveKeyFile.readPublicKeys(directory: store)
        }
        let missing = scratch.file("none")
        #expect(throws: CurveKeyFileError(path: missing, message: "cannot read allow-list directory: No such file or directory")) {
            try CurveKeyFile.readPublicKeys(directory: missing)
        }
    }

    @Test func addressPatterns() throws {
        let key = try CurveKeyPair.generate().publicKey
        let policy = try ZAPPolicy(allowedKeys: [key], allowIPs: ["127.0.0.0/8", "::1"], denyIPs: ["127.0.0.2"])
        #expect(policy.refusal(mechanism: "CURVE", address: "127.0.0.1", clientKey: key) == nil)
        #expect(policy.refusal(mechanism: "CURVE", address: "::1", clientKey: key) == nil)
        #expect(policy.refusal(mechanism: "CURVE", address: "127.0.0.2", clientKey: key) == .addressDenied)
        #expect(policy.refusal(mechanism: "CURVE", address: "10.1.2.3", clientKey: key) == .addressNotAllowed)
        #expect(policy.refusal(mechanism: "NULL", address: "127.0.0.1", clientKey: nil) == .mechanismNotAllowed("NULL"))
        #expect(policy.refusal(mechanism: "CURVE", address: "127.0.0.1", clientKey: try CurveKeyPair.generate().publicKey)
            == .keyNotAllowed)
        #expect(throws: ZAPPolicyError("'10.0.0.300' is not an IP address or IPv4 CIDR block")) {
            try ZAPPolicy(allowIPs: ["10.0.0.300"])
        }
        #expect(throws: ZAPPolicyError("'10.0.0.0/33' is not an IP address or IPv4 CIDR block")) {
            try ZAPPolicy(denyIPs: ["10.0.0.0/33"])
        }
    }

    /// The key tool writes a pair that loads, and `show` fails with 78 on a bad file.
    @Test func zkeysTool() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let zkeys = try builtExecutable("zkeys")
        let made = try run(zkeys, ["new", "server", "-d", scratch.file("keys")])
        #expect(made.status == 0, "\(made.stderr)")
        let pair = try CurveKeyFile.readKeyPair(path: scratch.file("keys/server.key_secret"))
        #expect(made.stdout.hasPrefix("public key \(pair.publicKey.z85)\n"))
        #expect(!made.stdout.contains(pair.secretKey.z85))
        var info = stat()
        stat(scratch.file("keys"), &info)
        #expect(info.st_mode & 0o777 == 0o700)
        let shown = try run(zkeys, ["show", scratch.file("keys/server.key")])
        #expect(shown.status == 0)
        #expect(shown.stdout == "\(pair.publicKey.z85)\n")
        let again = try run(zkeys, ["server", "-d", scratch.file("keys")])
        #expect(again.status == 73)
        #expect(again.stderr == "zkeys: error: \(scratch.file("keys/server.key_secret")): already exists (not overwritten)\n")
        chmod(scratch.file("keys/server.key_secret"), 0o644)
        let refused = try run(zkeys, ["show", scratch.file("keys/server.key_secret")])
        #expect(refused.status == 78)
        #expect(refused.stderr.contains("secret key file has mode 0644: it must not be accessible by group or others"))
    }
}

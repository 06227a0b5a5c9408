import ZDaemon
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A key file that cannot be used: missing, unreadable, malformed, a key of the wrong length,
/// or a secret file others may read. The message never contains a secret key.
///
/// Reads like `keys/server.key_secret: secret key file has mode 0644: it must not be
/// accessible by group or others (chmod 600 keys/server.key_secret)` or, with a line,
/// `keys/client.key:8: public-key must be 40 Z85 characters (a 32-byte key), got 39`.
public struct CurveKeyFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or directory) concerned.
    public var path: String
    /// The 1-based line, when the problem is on one.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(path: String, line: Int? = nil, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    /// `path[:line]: message`.
    public var description: String {
        if let line { return "\(path):\(line): \(message)" }
        return "\(path): \(message)"
    }
}

/// CURVE certificates in CZMQ's zcert text format (ZPL), public and secret parts in separate
/// files, as `zcert_save` writes them: `<name>.key` holds
///
/// ```
/// metadata
/// curve
///     public-key = "<40 Z85 characters>"
/// ```
///
/// and `<name>.key_secret` (mode 0600) additionally `secret-key = "<40 Z85 characters>"`.
/// Files written by CZMQ load here, and files written here load in CZMQ (`zcert_load`).
public enum CurveKeyFile {
    /// The suffix of the secret file next to a public one (`server.key` → `server.key_secret`).
    public static let secretSuffix = "_secret"

    /// Reads a public key from a public (or secret) certificate file.
    public static func readPublicKey(path: String) throws(CurveKeyFileError) -> CurveKey {
        let entries = try parse(path: path, text: readText(path: path, kind: "key file"))
        guard let entry = entries["curve/public-key"] else {
            throw CurveKeyFileError(path: path, message: "no curve public-key (not a zcert certificate file?)")
        }
        return try publicKey(entry, path: path)
    }

    /// Reads a key pair from a secret certificate file. The file must not be accessible by
    /// group or others (like ssh's private keys); its public-key must match its secret-key.
    public static func readKeyPair(path: String) throws(CurveKeyFileError) -> CurveKeyPair {
        let text = try readText(path: path, kind: "secret key file", secret: true)
        let entries = try parse(path: path, text: text)
        guard let secretEntry = entries["curve/secret-key"] else {
            throw CurveKeyFileError(path: path, message:
                "no curve secret-key (is this the public file? the secret one ends in \(secretSuffix))")
        }
        let secretText = try checkedLength(secretEntry, name: "secret-key", path: path)
        let secretKey: CurveSecretKey
        do {
            secretKey = try CurveSecretKey(z85: secretText)
        } catch {
            throw CurveKeyFileError(path: path, line: secretEntry.line, message: "secret-key is not valid Z85: \(error.message)")
        }
        let pair: CurveKeyPair
        do {
            pair = try CurveKeyPair(secretKey: secretKey)
        } catch {
            throw CurveKeyFileError(path: path, message: error.description)
        }
        if let publicEntry = entries["curve/public-key"] {
            let declared = try publicKey(publicEntry, path: path)
            guard declared == pair.publicKey else {
                throw CurveKeyFileError(path: path, line: publicEntry.line, message: CurveKeyMismatchError().description)
            }
        }
        return pair
    }

    /// Reads every public certificate in `directory` (zauth's certificate store): files whose
    /// name starts with `.` or ends in `_secret` are skipped; any other file that is not a valid
    /// certificate is an error (an allow-list must not be silently shorter than intended).
    public static func readPublicKeys(directory: String) throws(CurveKeyFileError) -> [CurveKey] {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw CurveKeyFileError(path: directory, message:
                "cannot read allow-list directory: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CurveKeyFileError(path: directory, message: "allow-list is not a directory")
        }
        // Whoever can write the allow-list can let themselves in.
        try checkDirectory(directory, holding: "an allow-list")
        guard let stream = opendir(directory) else {
            throw CurveKeyFileError(path: directory, message:
                "cannot read allow-list directory: \(String(cString: strerror(errno)))")
        }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(".") || name.hasSuffix(secretSuffix) { continue }
            names.append(name)
        }
        closedir(stream)
        var keys: [CurveKey] = []
        for name in names.sorted() {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var fileInfo = stat()
            guard stat(path, &fileInfo) == 0, (fileInfo.st_mode & S_IFMT) == S_IFREG else { continue }
            keys.append(try readPublicKey(path: path))
        }
        return keys
    }

    /// Writes `pair` as `<basePath>` (public, mode 0644) and `<basePath>_secret` (mode 0600,
    /// created exclusively unless `overwrite`). `name` goes into the metadata section.
    /// Returns the two paths written.
    @discardableResult
    public static func write(
        _ pair: CurveKeyPair, to basePath: String, name: String? = nil, overwrite: Bool = false
    ) throws(CurveKeyFileError) -> (publicPath: String, secretPath: String) {
        let secretPath = basePath + secretSuffix
        var metadata = "metadata\n"
        if let name {
            let escaped = name.filter { $0 != "\"" && $0 != "\n" && $0 != "\r" }
            metadata += "    name = \"\(escaped)\"\n"
        }
        let publicText = """
            #   ****  Generated by zkeys (zgen)  ****
            #   ZeroMQ CURVE Public Certificate
            #   Exchange securely, or use a secure mechanism to verify the contents
            #   of this file after exchange. Store public certificates in your home
            #   directory, in the .curve subdirectory.

            \(metadata)curve
                public-key = "\(pair.publicKey.z85)"

            """
        let secretText = """
            #   ****  Generated by zkeys (zgen)  ****
            #   ZeroMQ CURVE **Secret** Certificate
            #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

            \(metadata)curve
                public-key = "\(pair.publicKey.z85)"
                secret-key = "\(pair.secretKey.z85)"

            """
        // The secret first: if it cannot be written, no orphan public file is left.
        try writeFile(secretPath, secretText, mode: 0o600, overwrite: overwrite)
        try writeFile(basePath, publicText, mode: 0o644, overwrite: overwrite)
        return (basePath, secretPath)
    }

    // MARK: Reading

    struct Entry {
        var value: String
        var line: Int
    }

    private static func checkedLength(_ entry: Entry, name: String, path: String) throws(CurveKeyFileError) -> String {
        let count = entry.value.utf8.count
        guard count == 40 else {
            throw CurveKeyFileError(path: path, line: entry.line, message:
                "\(name) must be 40 Z85 characters (a 32-byte key), got \(count)")
        }
        return entry.value
    }

    private static func publicKey(_ entry: Entry, path: String) throws(CurveKeyFileError) -> CurveKey {
        let text = try checkedLength(entry, name: "public-key", path: path)
        do {
            return try CurveKey(z85: text)
        } catch {
            throw CurveKeyFileError(path: path, line: entry.line, message: "public-key is not valid Z85: \(error.message)")
        }
    }

    /// Refuses a directory that others may write (group or world writable), where someone else
    /// could put or replace the key files it holds.
    static func checkDirectory(_ directory: String, holding what: String) throws(CurveKeyFileError) {
        var info = stat()
        guard stat(directory, &info) == 0 else { return }
        guard info.st_mode & 0o022 == 0 else {
            let mode = String(UInt32(info.st_mode) & 0o7777, radix: 8)
            throw CurveKeyFileError(path: directory, message:
                "directory of \(what) is writable by group or others (mode 0\(mode)): someone else could replace its keys")
        }
    }

    static func checkDirectory(of path: String, holding what: String) throws(CurveKeyFileError) {
        let directory = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
        try checkDirectory(directory, holding: what)
    }

    static func readText(path: String, kind: String, secret: Bool = false) throws(CurveKeyFileError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw CurveKeyFileError(path: path, message: "cannot read \(kind): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) != S_IFDIR else {
            throw CurveKeyFileError(path: path, message: "\(kind) is a directory")
        }
        if secret && (info.st_mode & 0o077) != 0 {
            let mode = String(UInt32(info.st_mode) & 0o777, radix: 8)
            throw CurveKeyFileError(path: path, message:
                "secret key file has mode 0\(mode): it must not be accessible by group or others (chmod 600 \(path))")
        }
        if secret {
            // As OpenSSH's StrictModes: the file is this user's (or root's), and nobody else can
            // replace it through its directory.
            guard info.st_uid == getuid() || info.st_uid == 0 else {
                throw CurveKeyFileError(path: path, message:
                    "secret key file belongs to uid \(info.st_uid), not to this uid (\(getuid())) or root")
            }
            try checkDirectory(of: path, holding: "a secret key file")
        }
        guard let file = fopen(path, "rb") else {
            throw CurveKeyFileError(path: path, message: "cannot read \(kind): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes += buffer[0..<count] }
            if count < buffer.count { break }
            if bytes.count > 1 << 20 {
                throw CurveKeyFileError(path: path, message: "\(kind) is too large to be a certificate")
            }
        }
        for index in buffer.indices { buffer[index] = 0 }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CurveKeyFileError(path: path, message: "\(kind) is not valid UTF-8")
        }
        return text
    }

    /// Parses ZPL (ZeroMQ RFC 4) far enough for certificates: `name` or `name = value` lines,
    /// nesting by 4 spaces, `#` comments. Returns the values by slash-separated path.
    static func parse(path: String, text: String) throws(CurveKeyFileError) -> [String: Entry] {
        var entries: [String: Entry] = [:]
        var stack: [String] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let content = line.drop(while: { $0 == " " })
            if content.isEmpty || content.hasPrefix("#") { continue }
            let indent = line.count - content.count
            func fail(_ message: String) -> CurveKeyFileError {
                CurveKeyFileError(path: path, line: lineNumber, message: message)
            }
            if content.hasPrefix("\t") { throw fail("tabs are not allowed in a certificate (indent with 4 spaces)") }
            guard indent % 4 == 0 else { throw fail("indentation must be a multiple of 4 spaces") }
            let depth = indent / 4
            guard depth <= stack.count else { throw fail("line is indented too deeply") }
            stack.removeLast(stack.count - depth)
            // name [= value] [# comment]
            let nameCharacters = content.prefix { $0.isLetter || $0.isNumber || "$-_@.&+/".contains($0) }
            guard !nameCharacters.isEmpty else {
                throw fail("malformed line (expected 'name' or 'name = \"value\"')")
            }
            let name = String(nameCharacters)
            var rest = content.dropFirst(nameCharacters.count).drop(while: { $0 == " " })
            var value: String?
            if rest.hasPrefix("=") {
                rest = rest.dropFirst().drop(while: { $0 == " " })
                if let quote = rest.first, quote == "\"" || quote == "'" {
                    let body = rest.dropFirst()
                    guard let end = body.firstIndex(of: quote) else { throw fail("unterminated quoted value") }
                    value = String(body[..<end])
                    rest = body[body.index(after: end)...].drop(while: { $0 == " " })
                } else {
                    let body = rest.prefix { $0 != "#" }
                    value = String(body.reversed().drop(while: { $0 == " " }).reversed())
                    rest = rest.dropFirst(body.count)
                }
            }
            guard rest.isEmpty || rest.hasPrefix("#") else {
                throw fail("malformed line (expected 'name' or 'name = \"value\"')")
            }
            stack.append(name)
            if let value {
                entries[stack.joined(separator: "/")] = Entry(value: value, line: lineNumber)
            }
        }
        return entries
    }

    // MARK: Writing

    private static func writeFile(_ path: String, _ text: String, mode: mode_t, overwrite: Bool) throws(CurveKeyFileError) {
        var flags = O_WRONLY | O_CREAT | O_TRUNC
        if !overwrite { flags |= O_EXCL }
        let descriptor = open(path, flags, mode)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST
                ? "already exists (not overwritten)" : "cannot write: \(String(cString: strerror(errno)))"
            throw CurveKeyFileError(path: path, message: reason)
        }
        defer { close(descriptor) }
        // Whatever the umask or an existing file's mode said.
        guard fchmod(descriptor, mode) == 0 else {
            throw CurveKeyFileError(path: path, message: "cannot set mode: \(String(cString: strerror(errno)))")
        }
        var bytes = Array(text.utf8)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CurveKeyFileError(path: path, message: "cannot write: \(String(cString: strerror(errno)))")
            }
            written += count
        }
    }
}

/// The C library's `write(2)` (inside ``CurveKeyFile`` the name is taken by its own method).
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

// This file depends on nothing but the standard library, so a SwiftPM plugin (which cannot
// import ZGenCore) can compile the very same file through a symlink and name outputs identically.

/// How zgen names its outputs: one Swift file per schema, named from the schema's file name alone.
///
/// `Schemas/my_zmq.json` → `MyZmq.swift`, holding `public enum MyZmq { … }`. Every generated
/// type lives in that per-schema namespace, so several schemas can share one module. The name
/// depends only on the input path (never on its contents), so a build plugin can declare its
/// outputs before zgen runs.
public enum OutputNaming {
    /// Extensions dropped from the end of a schema's file name, repeatedly (`a.zgen.json` → `a`).
    public static let schemaExtensions = ["json", "ini", "zgen"]

    /// Names that cannot be a namespace (they would shadow what the generated code uses);
    /// a schema whose name makes one of these gets the suffix `Schema`.
    static let reservedNamespaces: Set<String> = [
        "Type", "Protocol", "Self", "Any", "AnyObject", "Swift", "ZDaemon", "String", "Bool", "Int", "Int8",
        "Int16", "Int32", "Int64", "UInt", "UInt8", "UInt16", "UInt32", "UInt64", "Float", "Double", "Result",
        "Error", "Never", "Sendable", "Equatable", "Frame", "FrameMessage", "FrameReader", "FrameEncoder",
        "Daemon", "DaemonSpec", "ChannelSpec", "ChannelOptions", "DaemonConfiguration", "RoutingID",
        "RequestTimeout", "EventLoop", "DaemonHandle", "Logger", "SocketType", "Optional", "Array", "DaemonHosting",
        "SocketEvent", "ReceivedFrames", "Responder", "RequestFailure", "RemoteFailure", "Duration",
        "InboundMessages", "DaemonClient", "TypedDaemon", "DaemonChannel", "ChannelOverride",
    ]

    /// The namespace (`enum`) name for a schema at `path`: the last path component, schema
    /// extensions dropped, UpperCamelCased (`my_zmq.json` → `MyZmq`).
    public static func namespace(forSchemaAt path: String) -> String {
        var base = Substring(path)
        if let slash = base.lastIndex(where: { $0 == "/" || $0 == "\\" }) {
            base = base[base.index(after: slash)...]
        }
        while let dot = base.lastIndex(of: ".") {
            let ext = base[base.index(after: dot)...].lowercased()
            guard schemaExtensions.contains(ext) else { break }
            base = base[..<dot]
        }
        var name = upperCamelCase(String(base))
        if name.isEmpty { name = "Schema" }
        if let first = name.unicodeScalars.first, first.properties.numericType != nil || ("0"..."9").contains(first) {
            name = "Schema" + name
        }
        if reservedNamespaces.contains(name) { name += "Schema" }
        return name
    }

    /// The Swift file zgen writes for a schema at `path` (`my_zmq.json` → `MyZmq.swift`).
    public static func outputFileName(forSchemaAt path: String) -> String {
        namespace(forSchemaAt: path) + ".swift"
    }

    /// Words of a name split at non-alphanumerics, first letters upper-cased, the rest kept:
    /// `my_zmq` → `MyZmq`, `job-queue` → `JobQueue`, `myServer` → `MyServer`. ASCII letters and
    /// digits only; everything else separates words.
    public static func upperCamelCase(_ name: String) -> String {
        var result = ""
        var startOfWord = true
        for scalar in name.unicodeScalars {
            let isAlphanumeric = ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
            guard isAlphanumeric else {
                startOfWord = true
                continue
            }
            if startOfWord {
                result += String(scalar).uppercased()
                startOfWord = false
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

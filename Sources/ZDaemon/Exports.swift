// What `import ZDaemon` brings along, so generated code and handlers need no other import:
// - swift-log's `Logger`: daemons and their handlers log through `daemon.logger`;
// - ZGenVocabulary: `SocketType`, `ChannelOptions`, `ChannelSecurity`, `ChannelLimits`, the
//   vocabulary every `ChannelSpec` is written in (shared with the generator).
// README, "Using zgen from your package", lists these re-exports.
@_exported import Logging
@_exported import ZGenVocabulary

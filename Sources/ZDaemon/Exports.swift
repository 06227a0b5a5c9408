// Generated daemons and their handlers log through `daemon.logger`; re-exporting swift-log
// lets them `import ZDaemon` alone.
@_exported import Logging

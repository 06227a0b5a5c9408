import Foundation
import Testing
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

/// A plain pyzmq peer talks to a generated daemon in both directions. Skipped (with a message)
/// when `import zmq` fails (`python3 -m pip install pyzmq`), except under CI (`CI=true`), where
/// that is a failure.
@Suite("pyzmq interop (real processes)", .serialized)
struct PyZMQInteropTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    func python(_ script: String, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-u", "-c", script] + arguments)
    }

    @Test("pyzmq PUSH and PUB reach a generated MyWorker")
    func pyzmqToDaemon() throws {
        guard pyzmqAvailable else {
            #expect(!interopRequired, "CI=true but pyzmq is not installed (python3 -m pip install pyzmq)")
            print("skipped: pyzmq is not installed (python3 -m pip install pyzmq)")
            return
        }
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        // The peer binds, sends one job (blocking until the worker connects), then publishes EXIT
        // every 50 ms until the worker has gone (a PUB cannot know when a SUB has joined).
        let script = """
            import sys, time, zmq
            ctx = zmq.Context()
            push = ctx.socket(zmq.PUSH); push.bind(sys.argv[1])
            pub = ctx.socket(zmq.PUB); pub.bind(sys.argv[2])
            print("bound", flush=True)
            push.send_multipart([b"hello from python \\xe2\\x9c\\x93"])  # blocks until the worker connects
            deadline = time.time() + 20
            while time.time() < deadline:
                pub.send_multipart([b"EXIT"])
                time.sleep(0.05)
            """
        let peer = try python(script, [scratch.endpoint("job"), scratch.endpoint("broadcast")])
        #expect(peer.waitForLine(containing: "bound"), "\(peer.lines)")
        let worker = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyWorker"] + scratch.exampleOverrides)
        let status = worker.waitForExit()
        peer.signal(SIGKILL)
        #expect(status == 0, "\(worker.lines)")
        #expect(worker.lines.contains("(my:worker)   Received job: ['hello from python ✓']"), "\(worker.lines)")
        #expect(worker.lines.contains("(my:worker)   Received broadcast: ['EXIT']"))
        #expect(worker.lines.last == "(my:worker)   MyWorker is terminating")
    }

    @Test("A generated MyServer reaches pyzmq PULL and SUB")
    func daemonToPyzmq() throws {
        guard pyzmqAvailable else {
            #expect(!interopRequired, "CI=true but pyzmq is not installed (python3 -m pip install pyzmq)")
            print("skipped: pyzmq is not installed (python3 -m pip install pyzmq)")
            return
        }
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        // The peer connects first (libzmq retries until the server binds) and prints what it gets.
        let script = """
            import sys, zmq
            ctx = zmq.Context()
            pull = ctx.socket(zmq.PULL); pull.setsockopt(zmq.RECONNECT_IVL, 10); pull.connect(sys.argv[1])
            sub = ctx.socket(zmq.SUB); sub.setsockopt(zmq.RECONNECT_IVL, 10); sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(sys.argv[2])
            print("connected", flush=True)
            poller = zmq.Poller(); poller.register(pull, zmq.POLLIN); poller.register(sub, zmq.POLLIN)
            done = False
            while not done:
                events = dict(poller.poll(20000))
                if not events: break
                if pull in events: print("job", pull.recv_multipart(), flush=True)
                if sub in events:
                    frames = sub.recv_multipart()
                    print("broadcast", frames, flush=True)
                    done = frames == [b"EXIT"]
            """
        let peer = try python(script, [scratch.endpoint("job"), scratch.endpoint("broadcast")])
        #expect(peer.waitForLine(containing: "connected"), "\(peer.lines)")
        let server = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyServer", "--interval", "0.3"] + scratch.exampleOverrides)
        #expect(server.waitForExit() == 0, "\(server.lines)")
        #expect(peer.waitForExit() == 0, "\(peer.lines)")
        let received = peer.lines.filter { !$0.hasPrefix("connected") }
        #expect(Set(received) == [
            "job [b'This is message #1']", "job [b'This is message #3']", "job [b'This is message #5']",
            "broadcast [b'This is message #2']", "broadcast [b'This is message #4']", "broadcast [b'EXIT']",
        ], "\(received)")
    }
}

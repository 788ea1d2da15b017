using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ItkPs.Core.Config;
using ItkPs.Server;
using ItkPs.Server.Privileged;

namespace ItkPs.Server.Tests;

/// <summary>
/// A real dispatcher (its event loop, in this process) with the test playing the master and the
/// workers over real SEQPACKET channels and a real listening socket on 127.0.0.1: the workers are
/// as hostile as a tenant who controls its worker process could make them.
/// </summary>
public sealed class DispatcherHarness : IDisposable
{
    public enum Mode { Serve, Hold, Stopped }

    public sealed class FakeWorker : IDisposable
    {
        public required int Fd;
        public required int Pool;
        public required int Pid;
        public required Mode Mode;
        public readonly BlockingCollection<(ConnectionMessage Message, Socket Client)> Received = new();
        public volatile bool ChannelClosed, Drained;
        public volatile int Resyncs;
        private readonly object _send = new();

        internal void Start()
        {
            if (Mode == Mode.Stopped) return; // never reads its channel, like a worker its tenant SIGSTOPped
            new Thread(Read) { IsBackground = true }.Start();
        }

        private void Read()
        {
            var buffer = new byte[Protocol.MaxMessage + 1];
            try
            {
                while (Protocol.Receive(Fd, Direction.DispatcherToWorker, buffer, false, out var m, out int fd) == ReceiveStatus.Message)
                {
                    if (m is PingMessage p) { Send(new PongMessage(p.Sequence)); continue; }
                    if (m is ResyncMessage) { Resyncs++; continue; } // the test answers it
                    if (m is DrainMessage) { Drained = true; continue; }
                    var c = (ConnectionMessage)m!;
                    var client = new Socket(new SafeSocketHandle(fd, true));
                    if (Mode == Mode.Serve)
                    {
                        client.Blocking = true;
                        client.Send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8);
                        client.Shutdown(SocketShutdown.Send);
                        client.Dispose();
                        Send(new ClosedMessage([(c.Id, 1)]));
                    }
                    Received.Add((c, client));
                }
            }
            catch (Exception e) when (e is IOException or ProtocolException or ObjectDisposedException) { }
            ChannelClosed = true;
        }

        public void Send(Message m) { lock (_send) Protocol.Send(Fd, m); }

        public unsafe void SendRaw(byte[] packet)
        {
            fixed (byte* p = packet) Native.send(Fd, p, (nuint)packet.Length, Native.MSG_NOSIGNAL);
        }

        /// <summary>True once the dispatcher has closed its end (a read returns end of stream).</summary>
        public bool IsCut()
        {
            if (ChannelClosed) return true;
            // The peer's close shows as a hang-up even while unread messages are still queued.
            var fds = new[] { new Mono.Unix.Native.Pollfd { fd = Fd, events = Mono.Unix.Native.PollEvents.POLLIN | (Mono.Unix.Native.PollEvents)0x2000 } };
            return Mono.Unix.Native.Syscall.poll(fds, 0) > 0 && (fds[0].revents & (Mono.Unix.Native.PollEvents.POLLHUP | (Mono.Unix.Native.PollEvents)0x2000)) != 0;
        }

        public void Dispose() { Native.close(Fd); }
    }

    private readonly Socket _listener;
    private readonly int _master, _dispatcherEnd;
    private readonly Thread _dispatcher, _masterReader;
    private readonly Func<int, Mode> _modeOf;
    public int Port { get; }
    public Snapshot Snapshot { get; }
    public ConcurrentDictionary<int, FakeWorker> Workers { get; } = new();
    /// <summary>Everything the dispatcher told the master besides NeedWorker (answered here).</summary>
    public BlockingCollection<Message> ToMaster { get; } = new();
    public volatile bool DispatcherEnded;
    private int _nextPid = 100_000;

    public DispatcherHarness(int pools, Func<int, Mode>? modeOf = null, Func<int, int?>? maxClients = null, int headTimeoutSeconds = 2)
    {
        MasterProcess.RaiseDescriptorLimit();
        _modeOf = modeOf ?? (_ => Mode.Serve);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(4096);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        var address = new HostAddress("127.0.0.1", Port);
        Snapshot = new Snapshot
        {
            Generation = 1,
            Listens = [new ListenSpec { Address = address.ToString() }],
            Pools = Enumerable.Range(1, pools).Select(i => new PoolSpec { Id = i, User = $"tenant{i}", Uid = (uint)(5000 + i), Group = $"tenant{i}", Gid = (uint)(5000 + i) }).ToList(),
            VirtualHosts = Enumerable.Range(1, pools).Select(i => new VirtualHost { Addresses = [address], File = "test.conf", Line = i, Name = $"v{i}.test", MaxClients = maxClients?.Invoke(i), User = $"tenant{i}", Group = $"tenant{i}" }).ToList(),
            VhostPools = Enumerable.Range(1, pools).ToList(),
            Incarnation = 2, // ids below 2 << 40 belong to an earlier dispatcher
            HeaderTimeoutSeconds = headTimeoutSeconds,
        };
        (_master, _dispatcherEnd) = FdPassing.SocketPair();
        _dispatcher = new Thread(() => { new Dispatcher(Snapshot, _dispatcherEnd).Serve(); DispatcherEnded = true; }) { IsBackground = true };
        _dispatcher.Start();
        Protocol.Send(_master, new ListenerMessage(0), (int)_listener.Handle);
        _masterReader = new Thread(ReadMaster) { IsBackground = true };
        _masterReader.Start();
    }

    /// <summary>Plays the master after a dispatcher died: hands over a worker that served the dead one.</summary>
    public FakeWorker Adopt(int pool, Mode mode = Mode.Serve)
    {
        var (mine, theirs) = FdPassing.SocketPair();
        var w = new FakeWorker { Fd = mine, Pool = pool, Pid = Interlocked.Increment(ref _nextPid), Mode = mode };
        Workers[pool] = w;
        w.Start();
        Protocol.Send(_master, new WorkerUpMessage(pool, w.Pid, Adopted: true), theirs);
        Native.close(theirs);
        return w;
    }

    private void ReadMaster()
    {
        var buffer = new byte[Protocol.MaxMessage + 1];
        try
        {
            while (Protocol.Receive(_master, Direction.DispatcherToMaster, buffer, false, out var m, out _) == ReceiveStatus.Message)
            {
                if (m is NeedWorkerMessage need)
                {
                    var (mine, theirs) = FdPassing.SocketPair();
                    var w = new FakeWorker { Fd = mine, Pool = need.PoolId, Pid = Interlocked.Increment(ref _nextPid), Mode = _modeOf(need.PoolId) };
                    Workers[need.PoolId] = w;
                    w.Start();
                    Protocol.Send(_master, new WorkerUpMessage(need.PoolId, w.Pid), theirs);
                    Native.close(theirs);
                }
                else ToMaster.Add(m!);
            }
        }
        catch (Exception e) when (e is IOException or ProtocolException) { }
    }

    public void SendFromMaster(Message m) => Protocol.Send(_master, m);

    public unsafe void SendRawFromMaster(byte[] packet)
    {
        fixed (byte* p = packet) Native.send(_master, p, (nuint)packet.Length, Native.MSG_NOSIGNAL);
    }

    /// <summary>Connects, sends a request for the vhost, and returns the socket (the answer comes from a worker or the dispatcher).</summary>
    public Socket Request(string host)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Connect(new IPEndPoint(IPAddress.Loopback, Port));
        s.Send(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        return s;
    }

    /// <summary>The status line the client got, or null when the connection ended without one.</summary>
    public static string? StatusLine(Socket s, int timeoutMs = 10_000)
    {
        s.ReceiveTimeout = timeoutMs;
        var buffer = new byte[512];
        int n = 0;
        try
        {
            while (n < buffer.Length)
            {
                int got = s.Receive(buffer, n, buffer.Length - n, SocketFlags.None);
                if (got == 0) break;
                n += got;
                if (Array.IndexOf(buffer, (byte)'\n', 0, n) >= 0) break;
            }
        }
        catch (SocketException) { }
        string text = Encoding.ASCII.GetString(buffer, 0, n);
        int eol = text.IndexOf("\r\n", StringComparison.Ordinal);
        return eol < 0 ? null : text[..eol];
    }

    /// <summary>A status request, answered in parts: the links and the end.</summary>
    public (List<LinkCounters> Links, StatusEndMessage End) Status(int sequence)
    {
        SendFromMaster(new StatusRequestMessage(sequence));
        var links = new List<LinkCounters>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (ToMaster.TryTake(out var m, deadline - DateTime.UtcNow > TimeSpan.Zero ? deadline - DateTime.UtcNow : TimeSpan.Zero))
        {
            if (m is StatusLinksMessage l && l.Sequence == sequence) links.AddRange(l.Links);
            if (m is StatusEndMessage e && e.Sequence == sequence) return (links, e);
        }
        throw new TimeoutException("no status answer");
    }

    public FakeWorker WaitForWorker(int pool)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (Workers.TryGetValue(pool, out var w)) return w;
            Thread.Sleep(5);
        }
        throw new TimeoutException($"the dispatcher never asked for a worker of pool {pool}");
    }

    public void Dispose()
    {
        SendFromMaster(new DrainMessage());
        _dispatcher.Join(TimeSpan.FromSeconds(10));
        Native.close(_master);
        Native.close(_dispatcherEnd);
        foreach (var w in Workers.Values) w.Dispose();
        _listener.Dispose();
    }
}

using System.Net;
using System.Text;
using ItkPs.Core.Config;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>
/// The dispatcher, as its own unprivileged account: one thread and one epoll set for everything —
/// the listeners, connections whose request head is still arriving (peeked, never read: the
/// worker's Kestrel reads the same bytes), the worker channels and the master's channel. It picks
/// the vhost as Apache does, enforces MaxClientsVHost, and passes each connection to a worker of
/// the vhost's user. Nothing it does waits on a worker: sends are non-blocking, what does not fit
/// waits in that worker's own queue, and a worker that stops reading (a tenant may SIGSTOP its
/// own worker) is found by an unanswered ping, reported to the master, which ends it, and its
/// waiting connections get 503. A worker can speak only about the connections it was given.
/// On a TLS port it peeks at the ClientHello instead of a request head and routes by its
/// server_name (no name, or one no vhost has: the first vhost of the address, as mod_ssl does);
/// it never opens a certificate or a key — the worker does the handshake as the site's user. On a
/// cleartext port where a vhost speaks h2c it recognises the HTTP/2 preface and routes by the first
/// request's :authority.
/// </summary>
public sealed unsafe class Dispatcher
{
    private readonly int _master;
    /// <summary>The largest request head it peeks at; a longer one gets 400 (Apache refuses fields over 8190 bytes).</summary>
    public const int MaxHead = 65536;
    /// <summary>How long a worker may leave its channel unread (with connections or a ping waiting) before it is replaced.</summary>
    public const int WedgeMs = 5000;
    private const int PingEveryMs = 1000, SlotWaitMs = 200, WorkerWaitMs = 15000, LingerMs = 2000, TickMs = 250;
    /// <summary>How long an h2c client that sent the preface and SETTINGS but no HEADERS yet is waited for before its first vhost is taken.</summary>
    private const int PrefaceWaitMs = 250;
    private static readonly byte[] PlainHttpOnTlsPort = Encoding.ASCII.GetBytes("400 Bad Request: you're speaking plain HTTP to a TLS port; use https:// to reach this URL.\n");
    /// <summary>Connections on the least busy worker beyond which another worker is started.</summary>
    private const int SpareThreshold = 64;
    /// <summary>Per-worker send buffer: a stopped worker can hold only a few connections in the kernel; the rest wait here and get 503.</summary>
    private const int ChannelSendBuffer = 16384;

    private Snapshot _snapshot = null!;
    private VhostSelector _selector = null!;
    private readonly Epoll _epoll = new(512);
    private object?[] _byFd = new object?[1024];
    private uint _nextStamp;
    private readonly byte[] _peek = new byte[MaxHead];
    private readonly byte[] _message = new byte[Protocol.MaxMessage + 1];
    private readonly List<ListenerHandle> _listeners = new();
    private readonly Dictionary<int, PoolRoute> _pools = new();
    private readonly Dictionary<VirtualHost, VhostState> _vhosts = new(ReferenceEqualityComparer.Instance);
    private readonly Queue<(long Due, Client C, uint Stamp)> _headTimers = new(), _slotTimers = new(), _workerTimers = new(), _lingerTimers = new(), _prefaceTimers = new();
    private int _headTimeoutMs = 10000;
    private long _nextId, _accepted, _timeouts, _busy, _refused;
    private int _openClients, _openPeak;
    /// <summary>Connections in hand at once beyond which, once they are gone again, the dispatcher gives its memory back.</summary>
    private const int TrimAfterPeak = 1024, TrimEveryMs = 10000;
    private long _nextTrim;
    private bool _draining, _acceptPaused;
    private long _drainDeadline, _nextTick, _acceptResume, _nextFdLog;
    private readonly RateLimitedLog _limited = new();

    private abstract class Handle { public int Fd; public uint Stamp; }
    private sealed class ListenerHandle : Handle { public int Index; public IPEndPoint? Bound; public bool Tls, H2c; }
    private sealed class MasterHandle : Handle { }

    private enum ClientState { Peeking, WaitingSlot, WaitingWorker, Outbox, Lingering }

    private sealed class Client : Handle
    {
        public ClientState State;
        public bool Registered;
        public IPEndPoint Local = null!;
        public VirtualHost? Vhost;
        public int VhostIndex = -1;
        public int Lingered;
        public uint TimerStamp;
        /// <summary>From its listener: a TLS port (a ClientHello is peeked), or a cleartext one where h2c is spoken.</summary>
        public bool Tls, H2c;
        public bool PrefaceTimerArmed;
        public ConnectionKind Kind = ConnectionKind.Http1;
    }

    private sealed class WorkerLink : Handle
    {
        public required PoolRoute Pool;
        public int Pid;
        public readonly Dictionary<long, VhostState> Open = new();
        public readonly Queue<(Message M, Client? C)> Outbox = new();
        public bool Dead, WantsOut, RetryOnTick;
        /// <summary>Taken over from a dispatcher that died: until it has listed its open connections, reports of unknown ones are the old dispatcher's.</summary>
        public bool Adopting;
        public long AdoptDeadline;
        public int Adopted;
        public long Passed, Requests, LastSendOk, LastActive, PingSentAt;
        public int PassedSincePing, PingSeq;
        public bool PingOutstanding;
    }

    private sealed class PoolRoute
    {
        public required PoolSpec Spec;
        public readonly List<WorkerLink> Links = new();
        public readonly Queue<Client> Waiting = new();
        public int Requested;
        public long RefusedUntil;
        public string? RefusedWhy;
    }

    private sealed class VhostState
    {
        public required int Index;
        public required VirtualHost Vhost;
        public int Active;
        public readonly Queue<Client> WaitingForSlot = new();
    }

    /// <summary>The dispatcher process: its channel to the master is descriptor 4, its snapshot descriptor 3.</summary>
    public Dispatcher() { _master = 4; }

    /// <summary>A dispatcher over a given snapshot and master channel, in this process (the protocol tests play master and workers).</summary>
    internal Dispatcher(Snapshot snapshot, int masterChannel) { _snapshot = snapshot; _master = masterChannel; }

    public int Run()
    {
        Log.Role = "dispatcher";
        Log.Relayed = true;
        _snapshot = Snapshot.Receive();
        var me = _snapshot.Dispatcher;
        Privileges.DropTo(me.User, me.Uid, me.Gid, (1, uint.MaxValue - 1L), (1, uint.MaxValue - 1L));
        Privileges.SetProcessName("itkd: dispatch");
        Serve();
        return 0;
    }

    /// <summary>Serves until drained: the master said so, or its channel closed.</summary>
    internal void Serve()
    {
        _selector = new VhostSelector(_snapshot.VirtualHosts);
        _nextId = (long)_snapshot.Incarnation << 40; // ids of an earlier dispatcher, still held by adopted workers, are all lower
        if (_snapshot.HeaderTimeoutSeconds > 0) _headTimeoutMs = _snapshot.HeaderTimeoutSeconds * 1000;
        foreach (var p in _snapshot.Pools) _pools[p.Id] = new PoolRoute { Spec = p };
        for (int i = 0; i < _snapshot.VirtualHosts.Count; i++) _vhosts[_snapshot.VirtualHosts[i]] = new VhostState { Index = i, Vhost = _snapshot.VirtualHosts[i] };
        Register(new MasterHandle { Fd = _master }, Epoll.In);
        Log.Write(LogEvent.DispatcherStarted, $"generation {_snapshot.Generation}, {_snapshot.VirtualHosts.Count} vhost(s), {_snapshot.Pools.Count} pool(s)");
        Loop();
    }

    // ---------------------------------------------------------------- the loop

    private void Loop()
    {
        while (true)
        {
            long now = Environment.TickCount64;
            int n = _epoll.Wait(Timeout(now));
            for (int i = 0; i < n; i++)
            {
                var (events, tag) = _epoll[i];
                int fd = (int)(tag & 0xffffffff);
                uint stamp = (uint)(tag >> 32);
                if (fd >= _byFd.Length || _byFd[fd] is not Handle h || h.Stamp != stamp) continue; // closed since
                try
                {
                    switch (h)
                    {
                        case ListenerHandle l: Accept(l); break;
                        case Client c: ClientEvent(c, events); break;
                        case WorkerLink w: LinkEvent(w, events); break;
                        case MasterHandle: MasterEvent(); break;
                    }
                }
                catch (IOException e)
                {
                    // An error of one descriptor (epoll full, a send that failed oddly) ends that one, not the loop.
                    _limited.Write(LogEvent.RoutingFailed, $"{h.GetType().Name} {h.Fd}: {e.Message}");
                    if (h is Client c) { if (c.Fd >= 0) Close(c); }
                    else if (h is WorkerLink w) LinkGone(w, e.Message, reroute: true);
                    else if (h is MasterHandle) StartDrain();
                }
            }
            now = Environment.TickCount64;
            Timers(now);
            if (now >= _nextTick) { _nextTick = now + TickMs; Tick(now); }
            if (_draining && (_openClients == 0 || now >= _drainDeadline))
            {
                FinishDrain();
                return;
            }
        }
    }

    private int Timeout(long now)
    {
        long due = _nextTick;
        if (_headTimers.Count > 0) due = Math.Min(due, _headTimers.Peek().Due);
        if (_slotTimers.Count > 0) due = Math.Min(due, _slotTimers.Peek().Due);
        if (_workerTimers.Count > 0) due = Math.Min(due, _workerTimers.Peek().Due);
        if (_lingerTimers.Count > 0) due = Math.Min(due, _lingerTimers.Peek().Due);
        if (_prefaceTimers.Count > 0) due = Math.Min(due, _prefaceTimers.Peek().Due);
        if (_acceptPaused) due = Math.Min(due, _acceptResume);
        return (int)Math.Clamp(due - now, 0, 1000);
    }

    private void Register(Handle h, uint events)
    {
        if (h.Fd >= _byFd.Length) Array.Resize(ref _byFd, Math.Max(_byFd.Length * 2, h.Fd + 1));
        h.Stamp = ++_nextStamp;
        _byFd[h.Fd] = h;
        _epoll.Add(h.Fd, events, Tag(h));
    }

    private static ulong Tag(Handle h) => ((ulong)h.Stamp << 32) | (uint)h.Fd;

    private void Unregister(Handle h)
    {
        _epoll.Remove(h.Fd);
        if (h.Fd < _byFd.Length && _byFd[h.Fd] == h) _byFd[h.Fd] = null;
    }

    // ---------------------------------------------------------------- accepting and peeking

    private void Accept(ListenerHandle l)
    {
        for (int i = 0; i < 64 && !_draining; i++)
        {
            int fd = Native.accept4(l.Fd, IntPtr.Zero, IntPtr.Zero, Native.SOCK_CLOEXEC | Native.SOCK_NONBLOCK);
            if (fd < 0)
            {
                int e = Native.Errno;
                if (e is Native.EMFILE or Native.ENFILE or Native.ENOBUFS or Native.ENOMEM) PauseAccepting(e);
                if (e is Native.ECONNABORTED or Native.EINTR) continue;
                return; // EAGAIN: none left (or the other dispatcher of a reload took it)
            }
            _accepted++;
            if (++_openClients > _openPeak) _openPeak = _openClients;
            var c = new Client { Fd = fd, Local = l.Bound ?? LocalEndPoint(fd), Tls = l.Tls, H2c = l.H2c };
            Peek(c, 0);
        }
    }

    /// <summary>Out of descriptors: stop accepting for a moment instead of spinning on the listener; logged once per 10 s.</summary>
    private void PauseAccepting(int errno)
    {
        long now = Environment.TickCount64;
        if (!_acceptPaused)
        {
            _acceptPaused = true;
            _acceptResume = now + 100;
            foreach (var l in _listeners) _epoll.Remove(l.Fd);
        }
        if (now >= _nextFdLog)
        {
            _nextFdLog = now + 10_000;
            Log.Write(LogEvent.AcceptFailed, $"accept: {Native.ErrorText(errno)} with {_openClients} connection(s) in hand; accepting paused for 100 ms at a time until descriptors are free");
        }
    }

    private void ResumeAccepting()
    {
        _acceptPaused = false;
        if (_draining) return;
        foreach (var l in _listeners) _epoll.Add(l.Fd, Epoll.In, Tag(l));
    }

    private static IPEndPoint LocalEndPoint(int fd)
    {
        byte* a = stackalloc byte[128];
        uint len = 128;
        if (Native.getsockname(fd, a, &len) != 0) return new IPEndPoint(IPAddress.None, 0);
        int port = (a[2] << 8) | a[3];
        if (a[0] == 2 /* AF_INET */) return new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(a + 4, 4)), port);
        var ip = new IPAddress(new ReadOnlySpan<byte>(a + 8, 16));
        return new IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, port);
    }

    private void ClientEvent(Client c, uint events)
    {
        if (c.State == ClientState.Peeking) Peek(c, events);
        else if (c.State == ClientState.Lingering) Linger(c);
    }

    /// <summary>Peeks at what has arrived; routes a complete head, answers a bad one, waits for the rest.</summary>
    private void Peek(Client c, uint events)
    {
        nint n;
        fixed (byte* p = _peek) n = Native.recv(c.Fd, p, (nuint)_peek.Length, Native.MSG_PEEK | Native.MSG_DONTWAIT);
        if (n == 0) { Close(c); return; } // closed before sending a request (a preconnect, a probe)
        if (n < 0)
        {
            if (Native.Errno is Native.EAGAIN or Native.EINTR) { WaitForHead(c); return; }
            Close(c);
            return;
        }
        var head = _peek.AsSpan(0, (int)n);
        if (c.Tls) { PeekHello(c, events, head); return; }
        if (c.H2c && head[0] == (byte)'P' && PeekPreface(c, events, head)) return;
        switch (HttpHead.Classify(head))
        {
            case HeadState.Malformed: Reply(c, 400, "Bad Request"); return;
            case HeadState.Incomplete when n == _peek.Length: Reply(c, 400, "Bad Request"); return; // longer than MaxHead
            case HeadState.Incomplete when (events & (Epoll.PeerClosed | Epoll.HangUp | Epoll.Error)) != 0: Close(c); return; // gave up mid-head
            case HeadState.Incomplete: WaitForHead(c); return;
        }
        string? host = HttpHead.Host(head, out bool malformed);
        if (malformed) { Reply(c, 400, "Bad Request"); return; }
        if (c.Registered) { Unregister(c); c.Registered = false; }
        var vhost = _selector.Select(c.Local.Address, c.Local.Port, host);
        if (vhost is null) { _limited.Write(LogEvent.NoVhost, $"no vhost for {c.Local}"); Reply(c, 404, "Not Found"); return; }
        c.Vhost = vhost;
        c.VhostIndex = _vhosts[vhost].Index;
        Route(c);
    }

    /// <summary>A TLS port: a whole ClientHello is routed by its server_name; plain HTTP gets 400, anything else an alert.</summary>
    private void PeekHello(Client c, uint events, ReadOnlySpan<byte> bytes)
    {
        var state = TlsHello.Parse(bytes, out var hello, out byte alert);
        switch (state)
        {
            case HelloState.PlainHttp: Reply(c, 400, "Bad Request", PlainHttpOnTlsPort); return;
            case HelloState.Malformed:
                _limited.Write(LogEvent.BadClientHello, $"from {RemoteOf(c)}: not a ClientHello TLS accepts; alert {alert}");
                Respond(c, TlsHello.Alert(alert));
                return;
            case HelloState.Incomplete when bytes.Length == _peek.Length:
                _limited.Write(LogEvent.BadClientHello, $"from {RemoteOf(c)}: a ClientHello longer than {_peek.Length} bytes; alert {TlsHello.HandshakeFailure}");
                Respond(c, TlsHello.Alert(TlsHello.HandshakeFailure));
                return;
            case HelloState.Incomplete when (events & (Epoll.PeerClosed | Epoll.HangUp | Epoll.Error)) != 0: Close(c); return;
            case HelloState.Incomplete: WaitForHead(c); return;
        }
        if (c.Registered) { Unregister(c); c.Registered = false; }
        // No SNI, or a name no vhost of this address has: the address's first vhost (mod_ssl's ssl_find_vhost).
        var vhost = _selector.Select(c.Local.Address, c.Local.Port, hello!.ServerName);
        if (vhost is null)
        {
            _limited.Write(LogEvent.NoVhost, $"no vhost for {c.Local}");
            Respond(c, TlsHello.Alert(TlsHello.UnrecognizedName));
            return;
        }
        c.Vhost = vhost;
        c.VhostIndex = _vhosts[vhost].Index;
        c.Kind = ConnectionKind.Tls;
        Route(c);
    }

    /// <summary>
    /// A cleartext port where h2c is spoken: the HTTP/2 preface is routed by the first request's
    /// :authority (to an h2c vhost as h2c; to any other as the HTTP/1 request it then is). False when
    /// the bytes are not the preface (an HTTP/1 request starting with P).
    /// </summary>
    private bool PeekPreface(Client c, uint events, ReadOnlySpan<byte> bytes)
    {
        var state = H2cPreface.Parse(bytes, out string? authority);
        if (state == PrefaceState.NotH2) return false;
        if (state == PrefaceState.Incomplete && bytes.Length < _peek.Length)
        {
            if ((events & (Epoll.PeerClosed | Epoll.HangUp | Epoll.Error)) != 0) { Close(c); return true; }
            WaitForHead(c);
            // A client may wait for our SETTINGS before its first request: then it gets the address's first vhost.
            if (bytes.Length > H2cPreface.Preface.Length && !c.PrefaceTimerArmed) { c.PrefaceTimerArmed = true; _prefaceTimers.Enqueue((Environment.TickCount64 + PrefaceWaitMs, c, c.TimerStamp)); }
            return true;
        }
        // Complete; or malformed or too long: routed without a name, and the worker's Kestrel answers in HTTP/2.
        RoutePreface(c, state == PrefaceState.Complete ? authority : null);
        return true;
    }

    private void RoutePreface(Client c, string? authority)
    {
        if (c.Registered) { Unregister(c); c.Registered = false; }
        var vhost = _selector.Select(c.Local.Address, c.Local.Port, authority);
        if (vhost is null) { _limited.Write(LogEvent.NoVhost, $"no vhost for {c.Local}"); Close(c); return; }
        c.Vhost = vhost;
        c.VhostIndex = _vhosts[vhost].Index;
        c.Kind = vhost.EffectiveProtocols.Contains(HttpProtocolNames.H2c) ? ConnectionKind.H2c : ConnectionKind.Http1;
        Route(c);
    }

    private static string RemoteOf(Client c)
    {
        byte* a = stackalloc byte[128];
        uint len = 128;
        if (Native.getpeername(c.Fd, a, &len) != 0) return "?";
        int port = (a[2] << 8) | a[3];
        var ip = a[0] == 2 ? new IPAddress(new ReadOnlySpan<byte>(a + 4, 4)) : new IPAddress(new ReadOnlySpan<byte>(a + 8, 16));
        return new IPEndPoint(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip, port).ToString();
    }

    private void WaitForHead(Client c)
    {
        if (c.Registered) return;
        c.State = ClientState.Peeking;
        c.Registered = true;
        // Edge-triggered: the bytes stay in the socket (peeked, not read), so only new bytes may wake us.
        Register(c, Epoll.In | Epoll.PeerClosed | Epoll.EdgeTriggered);
        Arm(_headTimers, c, _headTimeoutMs);
    }

    private void Arm(Queue<(long, Client, uint)> timers, Client c, int ms) => timers.Enqueue((Environment.TickCount64 + ms, c, ++c.TimerStamp));

    // ---------------------------------------------------------------- routing

    private void Route(Client c)
    {
        var vs = _vhosts[c.Vhost!];
        if (c.Vhost!.MaxClients is int max && vs.Active >= max)
        {
            while (vs.WaitingForSlot.TryPeek(out var stale) && (stale.Fd < 0 || stale.State != ClientState.WaitingSlot)) vs.WaitingForSlot.Dequeue();
            // The count drops when the worker reports a connection closed, a moment after the client
            // saw its response: a client that reconnects at once gets that moment before a 503.
            c.State = ClientState.WaitingSlot;
            vs.WaitingForSlot.Enqueue(c);
            Arm(_slotTimers, c, SlotWaitMs);
            return;
        }
        var pool = _pools[_snapshot.VhostPools[c.VhostIndex]];
        if (pool.RefusedUntil > Environment.TickCount64)
        {
            // Logged once, when the master refused the worker (with how long); not per connection.
            _refused++;
            Reply(c, 503, "Service Unavailable");
            return;
        }
        if (Pick(pool) is { } link) { Pass(c, link, vs); return; }
        c.State = ClientState.WaitingWorker;
        while (pool.Waiting.TryPeek(out var stale) && (stale.Fd < 0 || stale.State != ClientState.WaitingWorker)) pool.Waiting.Dequeue();
        pool.Waiting.Enqueue(c);
        Arm(_workerTimers, c, WorkerWaitMs);
        AskForWorker(pool);
    }

    /// <summary>The least busy live worker of the pool; asks for more below MinWorkers or when even the least busy is full.</summary>
    private WorkerLink? Pick(PoolRoute pool)
    {
        WorkerLink? best = null;
        foreach (var l in pool.Links) if (best is null || l.Open.Count < best.Open.Count) best = l;
        if (best is not null && (pool.Links.Count < _snapshot.MinWorkers || best.Open.Count >= SpareThreshold)) AskForWorker(pool);
        return best;
    }

    /// <summary>One request at a time per pool, never beyond MaxWorkers, never while the master holds the pool back.</summary>
    private void AskForWorker(PoolRoute pool)
    {
        if (_draining || pool.Requested > 0 || pool.Links.Count >= _snapshot.MaxWorkers || pool.RefusedUntil > Environment.TickCount64) return;
        pool.Requested++;
        SendMaster(new NeedWorkerMessage(pool.Spec.Id));
    }

    private void Pass(Client c, WorkerLink link, VhostState vs)
    {
        long id = ++_nextId;
        link.Open[id] = vs;
        vs.Active++;
        link.LastActive = Environment.TickCount64;
        var m = new ConnectionMessage(id, vs.Index, c.Kind);
        if (link.Outbox.Count == 0 && TrySend(link, m, c)) return;
        c.State = ClientState.Outbox;
        link.Outbox.Enqueue((m, c));
        WantOut(link, !link.RetryOnTick);
    }

    /// <summary>One non-blocking send to a worker; false when its queue is full (the caller queues).</summary>
    private bool TrySend(WorkerLink link, Message m, Client? c)
    {
        var r = Protocol.Send(link.Fd, m, c?.Fd ?? -1, dontWait: true);
        if (r == SendResult.WouldBlock) return false;
        if (r == SendResult.TooManyInFlight) { link.RetryOnTick = true; return false; } // EPOLLOUT would not tell when: the tick retries
        if (r == SendResult.PeerGone) { LinkGone(link, "its channel closed", reroute: true, m, c); return true; }
        link.LastSendOk = Environment.TickCount64;
        if (c is not null)
        {
            link.Passed++;
            link.PassedSincePing++;
            _openClients--;
            Native.close(c.Fd); // the worker has its own descriptor now
            c.Fd = -1;
        }
        return true;
    }

    private void WantOut(WorkerLink link, bool want)
    {
        if (link.WantsOut == want || link.Dead) return;
        link.WantsOut = want;
        _epoll.Modify(link.Fd, Epoll.In | (want ? Epoll.Out : 0), Tag(link));
    }

    private void Flush(WorkerLink link)
    {
        while (!link.Dead && link.Outbox.TryPeek(out var item))
        {
            if (!TrySend(link, item.M, item.C)) { if (link.RetryOnTick) WantOut(link, false); return; }
            if (link.Dead) return;
            link.Outbox.Dequeue();
        }
        WantOut(link, false);
    }

    // ---------------------------------------------------------------- answering and closing

    /// <summary>
    /// Answers a connection itself (400, 404, 408, 503), then closes it the way Apache's lingering
    /// close does: shut the sending side, read away what the client still sends for a moment, and
    /// only then close — closing with unread bytes makes the kernel send a reset, and the client
    /// might never see the answer.
    /// </summary>
    private void Reply(Client c, int status, string reason, byte[]? body = null)
    {
        body ??= Encoding.ASCII.GetBytes($"{status} {reason}\n");
        var head = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} {reason}\r\nServer: itkd\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        Respond(c, [.. head, .. body]);
    }

    /// <summary>Sends the dispatcher's own answer (an HTTP response, a TLS alert) and closes lingering, as <see cref="Reply"/> says.</summary>
    private void Respond(Client c, byte[] bytes)
    {
        fixed (byte* p = bytes) Native.send(c.Fd, p, (nuint)bytes.Length, Native.MSG_DONTWAIT | Native.MSG_NOSIGNAL);
        Native.shutdown(c.Fd, Native.SHUT_WR);
        c.State = ClientState.Lingering;
        if (c.Registered) _epoll.Modify(c.Fd, Epoll.In | Epoll.PeerClosed, Tag(c));
        else { c.Registered = true; Register(c, Epoll.In | Epoll.PeerClosed); }
        Arm(_lingerTimers, c, LingerMs);
        Linger(c);
    }

    private void Linger(Client c)
    {
        while (c.Fd >= 0)
        {
            nint n;
            fixed (byte* p = _peek) n = Native.recv(c.Fd, p, (nuint)_peek.Length, Native.MSG_DONTWAIT);
            if (n > 0) { if ((c.Lingered += (int)n) > 1 << 20) { Close(c); return; } continue; }
            if (n < 0 && Native.Errno is Native.EAGAIN or Native.EINTR) return;
            Close(c); // end of stream (or an error): all read
            return;
        }
    }

    private void Close(Client c)
    {
        if (c.Fd < 0) return;
        if (c.Registered) { Unregister(c); c.Registered = false; }
        Native.close(c.Fd);
        c.Fd = -1;
        c.TimerStamp++;
        _openClients--;
    }

    // ---------------------------------------------------------------- timers

    private void Timers(long now)
    {
        Expire(_headTimers, now, c => c.State == ClientState.Peeking, c =>
        {
            _timeouts++;
            if (c.Tls)
            {
                // Nothing to answer in: no TLS session exists yet, and HTTP would be garbage to a TLS client.
                _limited.Write(LogEvent.ClientTimeout, $"ClientHello not complete within {_headTimeoutMs / 1000} s; closed");
                Close(c);
                return;
            }
            _limited.Write(LogEvent.ClientTimeout, $"request head not complete within {_headTimeoutMs / 1000} s; 408");
            Reply(c, 408, "Request Timeout");
        });
        Expire(_prefaceTimers, now, c => c.State == ClientState.Peeking, c => RoutePreface(c, null));
        Expire(_slotTimers, now, c => c.State == ClientState.WaitingSlot, c =>
        {
            _busy++;
            _limited.Write(LogEvent.VhostBusy, $"{c.Vhost!.Name}: MaxClientsVHost {c.Vhost.MaxClients} reached; 503");
            Reply(c, 503, "Service Unavailable"); // left in the vhost's queue, skipped there by its state
        });
        Expire(_workerTimers, now, c => c.State == ClientState.WaitingWorker, c =>
        {
            _limited.Write(LogEvent.RoutingFailed, $"no worker for {c.Vhost!.Name} within {WorkerWaitMs / 1000} s; 503");
            Reply(c, 503, "Service Unavailable");
        });
        Expire(_lingerTimers, now, c => c.State == ClientState.Lingering, Close);
        if (_acceptPaused && now >= _acceptResume) ResumeAccepting();
    }

    private static void Expire(Queue<(long Due, Client C, uint Stamp)> q, long now, Func<Client, bool> still, Action<Client> fire)
    {
        while (q.Count > 0 && q.Peek().Due <= now)
        {
            var (_, c, stamp) = q.Dequeue();
            if (c.Fd >= 0 && c.TimerStamp == stamp && still(c)) fire(c);
        }
    }

    /// <summary>Pings, wedged workers, idle workers.</summary>
    private void Tick(long now)
    {
        // After a surge (a slowloris attack, a crowd) the garbage collector keeps the heap it grew to;
        // once most of those connections are gone, one compacting collection returns it (a few ms, once).
        // At most once in 10 s, so that a client opening and closing a thousand connections in a
        // loop cannot make the loop collect over and over.
        if (_openPeak >= TrimAfterPeak && _openClients <= _openPeak / 8 && now >= _nextTrim)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            WorkingSet.Trim();
            Log.Write(LogEvent.DispatcherTrimmed, $"{_openClients} connection(s) in hand after a peak of {_openPeak}; memory returned in {sw.ElapsedMilliseconds} ms");
            _openPeak = _openClients;
            _nextTrim = now + TrimEveryMs;
        }
        foreach (var pool in _pools.Values)
            foreach (var link in pool.Links.ToList())
            {
                if (link.RetryOnTick) { link.RetryOnTick = false; Flush(link); if (link.Dead) continue; }
                if (link.Adopting && now > link.AdoptDeadline) { Misbehaved(link, "did not list its open connections within 10 s of being taken over"); continue; }
                if (link.Outbox.Count > 0 && now - link.LastSendOk > WedgeMs) { Wedged(link, $"left its channel unread for {WedgeMs / 1000} s with {link.Outbox.Count} connection(s) waiting"); continue; }
                if (link.PingOutstanding && now - link.PingSentAt > WedgeMs) { Wedged(link, $"did not answer a ping for {WedgeMs / 1000} s"); continue; }
                if (!link.PingOutstanding && link.PassedSincePing > 0 && now - link.PingSentAt >= PingEveryMs && link.Outbox.Count == 0)
                {
                    link.PingOutstanding = true;
                    link.PingSentAt = now;
                    link.PassedSincePing = 0;
                    var ping = new PingMessage(++link.PingSeq);
                    if (!TrySend(link, ping, null)) { link.Outbox.Enqueue((ping, null)); WantOut(link, !link.RetryOnTick); }
                    continue;
                }
                if (!_draining && link.Open.Count == 0 && link.Outbox.Count == 0 && !link.PingOutstanding && now - link.LastActive > pool.Spec.IdleTimeoutSeconds * 1000L)
                {
                    Log.Write(LogEvent.WorkerDetached, $"{pool.Spec.User} pid {link.Pid}: idle for {pool.Spec.IdleTimeoutSeconds} s; retiring it");
                    SendMaster(new WorkerRetiredMessage(pool.Spec.Id, link.Pid));
                    TrySend(link, new DrainMessage(), null);
                    LinkGone(link, "retired", reroute: false);
                }
            }
    }

    /// <summary>A worker that stopped reading: the master ends it; what waited for it goes to another worker of the pool or gets 503.</summary>
    private void Wedged(WorkerLink link, string why)
    {
        Log.Write(LogEvent.WorkerUnresponsive, $"{link.Pool.Spec.User} pid {link.Pid} {why}; asking the master to replace it");
        SendMaster(new WorkerUnresponsiveMessage(link.Pool.Spec.Id, link.Pid, why));
        LinkGone(link, why, reroute: false);
    }

    // ---------------------------------------------------------------- worker channels

    private void LinkEvent(WorkerLink link, uint events)
    {
        if ((events & Epoll.Out) != 0) Flush(link);
        if (link.Dead) return;
        if ((events & (Epoll.In | Epoll.HangUp | Epoll.Error)) == 0) return;
        // A bounded number per wake-up: one worker cannot keep the loop from everyone else.
        for (int i = 0; i < 64 && !link.Dead; i++)
        {
            ReceiveStatus st;
            Message? m;
            try { st = Protocol.Receive(link.Fd, Direction.WorkerToDispatcher, _message, true, out m, out _); }
            catch (ProtocolException e) { Misbehaved(link, e.Message); return; }
            catch (IOException e) { LinkGone(link, e.Message, reroute: true); return; }
            if (st == ReceiveStatus.WouldBlock) return;
            if (st == ReceiveStatus.Closed) { LinkGone(link, "its channel closed", reroute: true); return; }
            switch (m)
            {
                case ClosedMessage x:
                    foreach (var (id, served) in x.Connections)
                    {
                        if (!link.Open.Remove(id, out var vs))
                        {
                            if (link.Adopting) continue; // one the dead dispatcher gave it: not counted here
                            Misbehaved(link, $"reported connection {id}, which it was never given (or already closed)");
                            return;
                        }
                        vs.Active--;
                        link.Requests += Math.Max(0, served);
                        link.LastActive = Environment.TickCount64;
                        ReleaseSlot(vs);
                    }
                    break;
                case PongMessage x:
                    if (!link.PingOutstanding || x.Sequence != link.PingSeq) { Misbehaved(link, $"answered ping {x.Sequence}, which was not asked"); return; }
                    link.PingOutstanding = false;
                    break;
                case OpenMessage x:
                    if (!link.Adopting) { Misbehaved(link, "listed open connections nobody asked for"); return; }
                    foreach (var (id, vhost) in x.Connections)
                    {
                        // Only its own vhosts, only ids of an earlier dispatcher, each once: a worker
                        // can make its own vhosts look busier, nothing else.
                        if (vhost < 0 || vhost >= _snapshot.VirtualHosts.Count || _snapshot.VhostPools[vhost] != link.Pool.Spec.Id
                            || id >> 40 >= _snapshot.Incarnation || link.Open.ContainsKey(id) || ++link.Adopted > 1_000_000)
                        { Misbehaved(link, $"listed connection {id} of vhost {vhost}, which cannot be its own"); return; }
                        var vs = _vhosts[_snapshot.VirtualHosts[vhost]];
                        link.Open[id] = vs;
                        vs.Active++;
                    }
                    break;
                case OpenEndMessage x:
                    if (!link.Adopting) { Misbehaved(link, "ended a list nobody asked for"); return; }
                    link.Adopting = false;
                    Log.Write(LogEvent.WorkerAttached, $"{link.Pool.Spec.User} pid {link.Pid}: taken over with {link.Adopted} open connection(s)");
                    break;
            }
        }
    }

    /// <summary>A freed MaxClientsVHost slot goes to the connection that has waited longest for it.</summary>
    private void ReleaseSlot(VhostState vs)
    {
        while (vs.WaitingForSlot.TryDequeue(out var c))
        {
            if (c.Fd < 0 || c.State != ClientState.WaitingSlot) continue;
            c.TimerStamp++;
            Route(c);
            return;
        }
    }

    private void Misbehaved(WorkerLink link, string why)
    {
        Log.Write(LogEvent.PeerProtocolError, $"{link.Pool.Spec.User} pid {link.Pid}: {why}; dropping it");
        SendMaster(new WorkerUnresponsiveMessage(link.Pool.Spec.Id, link.Pid, $"broke the protocol ({why})"));
        LinkGone(link, why, reroute: false);
    }

    /// <summary>
    /// A worker is gone (exited, retired, wedged, misbehaved): its open connections no longer
    /// count against MaxClientsVHost; what waited in its queue never reached it and is routed again
    /// (to another worker of the pool, or a new one) — or, for a wedged worker, answered 503 when
    /// the pool has no other.
    /// </summary>
    private void LinkGone(WorkerLink link, string why, bool reroute, Message? inFlight = null, Client? inFlightClient = null)
    {
        if (link.Dead) return;
        link.Dead = true;
        link.Pool.Links.Remove(link);
        Unregister(link);
        Native.close(link.Fd);
        foreach (var vs in link.Open.Values) { vs.Active--; ReleaseSlot(vs); }
        link.Open.Clear();
        var waiting = link.Outbox.Where(o => o.C is not null).Select(o => o.C!).ToList();
        link.Outbox.Clear();
        if (inFlightClient is not null && !waiting.Contains(inFlightClient)) waiting.Insert(0, inFlightClient);
        Log.Write(LogEvent.WorkerDetached, $"{link.Pool.Spec.User} pid {link.Pid}: {why}{(waiting.Count > 0 ? $"; {waiting.Count} waiting connection(s) {(reroute || link.Pool.Links.Count > 0 ? "routed again" : "answered 503")}" : "")}");
        foreach (var c in waiting)
        {
            if (c.Fd < 0) continue;
            if (reroute || link.Pool.Links.Count > 0) Route(c);
            else Reply(c, 503, "Service Unavailable");
        }
    }

    // ---------------------------------------------------------------- the master

    /// <summary>Blocking (reads use MSG_DONTWAIT instead): the master reads its dispatcher's channel on a thread of its own, promptly.</summary>
    private void SendMaster(Message m)
    {
        SendResult r;
        try { r = Protocol.Send(_master, m); }
        catch (IOException) { r = SendResult.PeerGone; }
        if (r != SendResult.Sent) { Log.Write(LogEvent.PeerProtocolError, "the master is gone"); StartDrain(); }
    }

    private void MasterEvent()
    {
        for (int i = 0; i < 64; i++)
        {
            ReceiveStatus st;
            Message? m;
            int fd;
            try { st = Protocol.Receive(_master, Direction.MasterToDispatcher, _message, true, out m, out fd); }
            catch (Exception e) when (e is ProtocolException or IOException)
            {
                Log.Write(LogEvent.PeerProtocolError, $"master channel: {e.Message}");
                StartDrain();
                _epoll.Remove(_master);
                return;
            }
            if (st == ReceiveStatus.WouldBlock) return;
            if (st == ReceiveStatus.Closed) { StartDrain(); _epoll.Remove(_master); return; }
            switch (m)
            {
                case ListenerMessage x when x.Index >= 0 && x.Index < _snapshot.Listens.Count:
                    // Non-blocking: during a reload two dispatchers poll the same socket and only one wins each connection.
                    Native.fcntl(fd, Native.F_SETFL, Native.O_NONBLOCK);
                    var address = _snapshot.Listens[x.Index].Address;
                    var l = new ListenerHandle
                    {
                        Fd = fd, Index = x.Index, Tls = _snapshot.Listens[x.Index].Tls, H2c = _snapshot.Listens[x.Index].H2c,
                        Bound = HostAddress.TryParse(address, true, out var a, out _) && a!.Ip is { } ip && a.Port is int port ? new IPEndPoint(ip, port) : null,
                    };
                    _listeners.Add(l);
                    if (_draining) Native.close(fd);
                    else Register(l, Epoll.In);
                    Log.Write(LogEvent.ListenerReceived, l.Tls ? $"{address} (TLS: routed by the ClientHello's server_name)" : l.H2c ? $"{address} (h2c spoken here)" : address);
                    break;
                case WorkerUpMessage x when _pools.TryGetValue(x.PoolId, out var pool):
                    pool.Requested = Math.Max(0, pool.Requested - 1);
                    FdPassing.LimitSendBuffer(fd, ChannelSendBuffer);
                    var link = new WorkerLink { Fd = fd, Pool = pool, Pid = x.Pid, LastSendOk = Environment.TickCount64, LastActive = Environment.TickCount64 };
                    if (_draining) { Native.close(fd); break; }
                    Register(link, Epoll.In);
                    pool.Links.Add(link);
                    if (x.Adopted)
                    {
                        // It kept serving while no dispatcher was there: ask what it still has open.
                        link.Adopting = true;
                        link.AdoptDeadline = Environment.TickCount64 + 10_000;
                        var resync = new ResyncMessage();
                        if (!TrySend(link, resync, null)) { link.Outbox.Enqueue((resync, null)); WantOut(link, !link.RetryOnTick); }
                    }
                    else Log.Write(LogEvent.WorkerAttached, $"{pool.Spec.User} pid {x.Pid}");
                    while (pool.Waiting.TryDequeue(out var c))
                        if (c.Fd >= 0 && c.State == ClientState.WaitingWorker) { c.TimerStamp++; Route(c); }
                    Pick(pool); // fill the pool up to MinWorkers now, not at the next connection
                    break;
                case WorkerRefusedMessage x when _pools.TryGetValue(x.PoolId, out var refused):
                    refused.Requested = Math.Max(0, refused.Requested - 1);
                    refused.RefusedUntil = Environment.TickCount64 + Math.Clamp(x.RetryAfterMs, 100, 60_000);
                    refused.RefusedWhy = x.Reason;
                    Log.Write(LogEvent.PoolHeldBack, $"pool {refused.Spec.User}: {x.Reason}; connections get 503 for {x.RetryAfterMs} ms");
                    while (refused.Waiting.TryDequeue(out var c))
                        if (c.Fd >= 0 && c.State == ClientState.WaitingWorker) { _refused++; Reply(c, 503, "Service Unavailable"); }
                    break;
                case WorkerGoneMessage x when _pools.TryGetValue(x.PoolId, out var gone):
                    if (gone.Links.FirstOrDefault(w => w.Pid == x.Pid) is { } dead) LinkGone(dead, "the master reaped it", reroute: true);
                    break;
                case StatusRequestMessage x:
                    SendStatus(x.Sequence);
                    break;
                case DrainMessage:
                    StartDrain();
                    break;
                default:
                    if (fd >= 0) Native.close(fd);
                    Log.Write(LogEvent.PeerProtocolError, $"unexpected {m!.Type} from the master");
                    StartDrain();
                    return;
            }
        }
    }

    private void SendStatus(int seq)
    {
        var links = _pools.Values.SelectMany(p => p.Links).Select(l => new LinkCounters(l.Pool.Spec.Id, l.Pid, l.Open.Count, l.Passed, l.Requests)).ToArray();
        foreach (var chunk in links.Chunk(StatusLinksMessage.MaxItems)) SendMaster(new StatusLinksMessage(seq, chunk));
        var vhosts = _vhosts.Values.Where(v => v.Active > 0).Select(v => new VhostCounter(v.Index, v.Active)).ToArray();
        foreach (var chunk in vhosts.Chunk(StatusVhostsMessage.MaxItems)) SendMaster(new StatusVhostsMessage(seq, chunk));
        SendMaster(new StatusEndMessage(seq, _accepted, _timeouts, _busy, _refused, _openClients));
    }

    // ---------------------------------------------------------------- draining

    /// <summary>
    /// Stop accepting; route what is already in hand (the next generation takes new connections);
    /// then tell every worker to finish its connections and exit.
    /// The listening sockets stay open: the master and the next dispatcher share them.
    /// </summary>
    private void StartDrain()
    {
        if (_draining) return;
        _draining = true;
        _drainDeadline = Environment.TickCount64 + _headTimeoutMs + 5000;
        foreach (var l in _listeners) { Unregister(l); Native.close(l.Fd); }
        Log.Write(LogEvent.Draining, $"no longer accepting; {_openClients} connection(s) still being routed");
    }

    private void FinishDrain()
    {
        var links = _pools.Values.SelectMany(p => p.Links).ToList();
        Log.Write(LogEvent.Draining, $"routing done (accepted {_accepted}, passed {links.Sum(l => l.Passed)}, still in hand {_openClients}); {links.Count} worker(s) finish their connections");
        // The master holds a copy of each channel (so a dispatcher's death does not end a worker):
        // the worker is told to drain. If even that does not fit, the master closes its copy once
        // this process is gone, and the worker drains at the end of its channel.
        foreach (var l in links) { Flush(l); if (!l.Dead) TrySend(l, new DrainMessage(), null); }
    }
}

/// <summary>
/// Lines the dispatcher writes per connection (timeouts, 503s) are limited to a few per second and
/// event: an attack of thousands of slow connections must not become thousands of log lines.
/// </summary>
internal sealed class RateLimitedLog
{
    private readonly Dictionary<LogEvent, (long Window, int Count, int Dropped)> _state = new();

    public void Write(LogEvent e, string message)
    {
        long now = Environment.TickCount64 / 10_000; // ten-second windows
        var s = _state.GetValueOrDefault(e);
        if (s.Window != now)
        {
            if (s.Dropped > 0) Log.Write(e, $"{s.Dropped} more like this in the last 10 s");
            s = (now, 0, 0);
        }
        if (s.Count < 5) { s.Count++; Log.Write(e, message); }
        else s.Dropped++;
        _state[e] = s;
    }
}

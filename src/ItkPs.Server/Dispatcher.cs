using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>
/// The dispatcher, as the unprivileged server User: accepts, peeks at the request head
/// (MSG_PEEK, the bytes stay in the socket) under a timeout, picks the vhost as Apache does,
/// enforces MaxClientsVHost, and passes the connection to a worker of the vhost's user. It never
/// opens a file of a site.
/// </summary>
public sealed class Dispatcher(string snapshotPath, int masterChannel)
{
    private const int MaxHead = 16384;
    private readonly object _masterGate = new();
    /// <summary>Live workers per pool ("user:group"); guarded by _pending's lock when changed.</summary>
    private readonly ConcurrentDictionary<string, WorkerLink[]> _workers = new();
    /// <summary>Worker requests sent to the master and not yet answered, per pool.</summary>
    private readonly Dictionary<string, int> _requested = new();
    private readonly Dictionary<string, TaskCompletionSource<WorkerLink?>> _pending = new();
    private readonly ConcurrentDictionary<long, (VirtualHost Vhost, WorkerLink Worker)> _inFlight = new();
    private readonly ConcurrentDictionary<VirtualHost, int> _activePerVhost = new();
    private readonly List<int> _listeners = new();
    private readonly List<Thread> _acceptThreads = new();
    private Snapshot _snapshot = null!;
    private VhostSelector _selector = null!;
    private TimeSpan _headTimeout = TimeSpan.FromSeconds(10);
    private long _nextId, _accepted, _timeouts, _busy;
    private int _handling;
    private volatile bool _draining;
    private readonly ManualResetEventSlim _done = new();

    private sealed class WorkerLink(string key, int pid, int channel)
    {
        public string Key { get; } = key;
        public int Pid { get; } = pid;
        public int Channel { get; } = channel;
        public object Gate { get; } = new();
        public long Passed, Requests;
        public int Active;
        public volatile bool Dead;
    }

    public int Run()
    {
        Log.Role = "dispatcher";
        _snapshot = Snapshot.Load(snapshotPath);
        var user = SystemAccounts.Instance.FindUser(_snapshot.User) ?? throw new PrivilegeException($"User {_snapshot.User} does not exist");
        var group = SystemAccounts.Instance.FindGroup(_snapshot.Group) ?? throw new PrivilegeException($"Group {_snapshot.Group} does not exist");
        Privileges.DropTo(user, group, (1, uint.MaxValue - 1L), (1, uint.MaxValue - 1L));
        Privileges.SetProcessName("itkd: dispatch");
        _selector = new VhostSelector(_snapshot.VirtualHosts);
        if (_snapshot.HeaderTimeoutSeconds > 0) _headTimeout = TimeSpan.FromSeconds(_snapshot.HeaderTimeoutSeconds);
        Log.Write(LogEvent.DispatcherStarted, $"generation {_snapshot.Generation}, {_snapshot.VirtualHosts.Count} vhost(s)");
        new Thread(ReadMaster) { IsBackground = true, Name = "master-channel" }.Start();
        _done.Wait();
        return 0;
    }

    private void SendMaster(Message m) { lock (_masterGate) m.Send(masterChannel); }

    private void ReadMaster()
    {
        try
        {
            Message.ReadAll(masterChannel, m =>
            {
                switch (m.Type)
                {
                    case MessageType.Listener when m.Fd >= 0:
                        lock (_listeners) _listeners.Add(m.Fd);
                        // Non-blocking: during a reload two dispatchers poll the same socket and
                        // only one wins each connection.
                        if (Mono.Unix.Native.Syscall.fcntl(m.Fd, Mono.Unix.Native.FcntlCommand.F_SETFL, (int)Mono.Unix.Native.OpenFlags.O_NONBLOCK) < 0)
                            throw new IOException($"fcntl(O_NONBLOCK) on listener: {Mono.Unix.Native.Stdlib.GetLastError()}");
                        Log.Write(LogEvent.ListenerReceived, m.Fields.FirstOrDefault() ?? "");
                        for (int i = 0; i < Math.Max(2, Environment.ProcessorCount); i++)
                        {
                            int fd = m.Fd;
                            string address = m.Fields.FirstOrDefault() ?? "*";
                            var t = new Thread(() => AcceptLoop(fd, address)) { IsBackground = true, Name = "accept" };
                            lock (_acceptThreads) _acceptThreads.Add(t);
                            t.Start();
                        }
                        break;
                    case MessageType.WorkerChannel when m.Fd >= 0 && m.Fields.Length == 2:
                        var link = new WorkerLink(m.Fields[0], int.Parse(m.Fields[1]), m.Fd);
                        TaskCompletionSource<WorkerLink?>? tcs;
                        lock (_pending)
                        {
                            _workers[link.Key] = [.. _workers.GetValueOrDefault(link.Key) ?? [], link];
                            _requested[link.Key] = Math.Max(0, _requested.GetValueOrDefault(link.Key) - 1);
                            _pending.Remove(link.Key, out tcs);
                        }
                        new Thread(() => ReadWorker(link)) { IsBackground = true, Name = $"worker-{link.Pid}" }.Start();
                        tcs?.TrySetResult(link);
                        // Fill the pool up to MinWorkers now, not at the next connection.
                        var names = link.Key.Split(':');
                        if (names.Length == 2) Pick(link.Key, names[0], names[1]);
                        Log.Write(LogEvent.WorkerAttached, $"{link.Key} pid {link.Pid}");
                        break;
                    case MessageType.WorkerFailed when m.Fields.Length == 2:
                        TaskCompletionSource<WorkerLink?>? failed;
                        lock (_pending) { _pending.Remove(m.Fields[0], out failed); _requested[m.Fields[0]] = Math.Max(0, _requested.GetValueOrDefault(m.Fields[0]) - 1); }
                        failed?.TrySetResult(null);
                        Log.Write(LogEvent.WorkerDetached, $"{m.Fields[0]}: {m.Fields[1]}");
                        break;
                    case MessageType.StatusRequest:
                        SendMaster(Message.Of(MessageType.Status, StatusJson()));
                        break;
                    case MessageType.Drain:
                        // On its own thread: connections still waiting for a worker need this
                        // loop to receive the worker's channel.
                        new Thread(Drain) { IsBackground = true, Name = "drain" }.Start();
                        break;
                    default:
                        if (m.Fd >= 0) Mono.Unix.Native.Syscall.close(m.Fd);
                        throw new ProtocolException($"unexpected {m.Type} from the master");
                }
            });
        }
        catch (Exception e) when (e is ProtocolException or IOException)
        {
            Log.Write(LogEvent.PeerProtocolError, e.Message);
        }
        Drain(); // the master is gone: stop
    }

    /// <summary>Stop accepting; closing each worker channel tells the worker to finish and exit.</summary>
    private int _drainStarted;

    private void Drain()
    {
        if (Interlocked.Exchange(ref _drainStarted, 1) == 1) return;
        _draining = true;
        Log.Write(LogEvent.Draining, "no longer accepting; workers finish their connections");
        // The listening sockets are shared with the master and the next dispatcher: this one only
        // stops polling them (closing them through .NET with an accept pending would be an
        // abortive close, and SO_LINGER 0 on a listener is inherited by every later connection).
        // Its descriptors go with the process.
        // Connections already accepted are still routed (the next generation takes new ones):
        // first every accept thread is out of accept4, then every accepted connection is passed.
        lock (_acceptThreads) foreach (var t in _acceptThreads) t.Join();
        var deadline = DateTime.UtcNow + _headTimeout + TimeSpan.FromSeconds(5);
        while (Volatile.Read(ref _handling) > 0 && DateTime.UtcNow < deadline) Thread.Sleep(5);
        Log.Write(LogEvent.Draining, $"routing done (still routing {Volatile.Read(ref _handling)}; accepted {Interlocked.Read(ref _accepted)}, passed {_workers.Values.SelectMany(l => l).Sum(w => w.Passed)})");
        foreach (var w in _workers.Values.SelectMany(l => l)) Mono.Unix.Native.Syscall.shutdown(w.Channel, Mono.Unix.Native.ShutdownOption.SHUT_WR);
        _done.Set();
    }

    /// <summary>poll + accept4 on the shared listener until draining; each connection is routed asynchronously.</summary>
    private void AcceptLoop(int listener, string address)
    {
        // A listener on one address: every connection's local end is that address. On "*" it
        // varies, and only the socket can tell (the asynchronous path asks it).
        IPEndPoint? bound = HostAddress.TryParse(address, true, out var a, out _) && a!.Ip is { } ip && a.Port is int port ? new IPEndPoint(ip, port) : null;
        var fds = new[] { new Mono.Unix.Native.Pollfd { fd = listener, events = Mono.Unix.Native.PollEvents.POLLIN } };
        var peekBuffer = new byte[MaxHead];
        while (!_draining)
        {
            if (Mono.Unix.Native.Syscall.poll(fds, 200) <= 0) continue;
            // Take every waiting connection before polling again.
            while (!_draining)
            {
                int fd = Mono.Unix.Native.Syscall.accept4(listener, null!, Mono.Unix.Native.UnixSocketFlags.SOCK_CLOEXEC | Mono.Unix.Native.UnixSocketFlags.SOCK_NONBLOCK);
                if (fd < 0) break; // EAGAIN: none left (or another thread or dispatcher took it)
                Interlocked.Increment(ref _accepted);
                if (TryRouteNow(fd, peekBuffer, bound)) continue;
                Interlocked.Increment(ref _handling); // before Drain can see this thread gone
                var client = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
                _ = Handle(client).ContinueWith(_ => Interlocked.Decrement(ref _handling), TaskScheduler.Default);
            }
        }
    }

    /// <summary>
    /// The common case, on the accept thread and without the .NET socket machinery: the whole
    /// request head is already there, the vhost has a worker and a free slot. Then peek, pick,
    /// pass and close. Anything else (a head still arriving, no worker yet, a full vhost, a
    /// bad request) goes the asynchronous way.
    /// </summary>
    private unsafe bool TryRouteNow(int fd, byte[] buffer, IPEndPoint? local)
    {
        long n;
        fixed (byte* p = buffer)
            n = Mono.Unix.Native.Syscall.recv(fd, (IntPtr)p, (ulong)buffer.Length, Mono.Unix.Native.MessageFlags.MSG_PEEK | Mono.Unix.Native.MessageFlags.MSG_DONTWAIT);
        if (n <= 0 || buffer.AsSpan(0, (int)n).IndexOf("\r\n\r\n"u8) < 0) return false;
        string? host = HostHeader(buffer, (int)n, out bool malformed);
        if (malformed || local is null) return false;
        var vhost = _selector.Select(local.Address, local.Port, host);
        if (vhost is null || vhost.MaxClients is int max && _activePerVhost.GetValueOrDefault(vhost) >= max) return false;
        if (Pick($"{vhost.User}:{vhost.Group}", vhost.User!, vhost.Group!) is not { } worker) return false;
        long id = Interlocked.Increment(ref _nextId);
        _inFlight[id] = (vhost, worker);
        _activePerVhost.AddOrUpdate(vhost, 1, (_, c) => c + 1);
        Interlocked.Increment(ref worker.Active);
        try
        {
            lock (worker.Gate) new Message(MessageType.Connection, [id.ToString()], fd).Send(worker.Channel);
            Interlocked.Increment(ref worker.Passed);
        }
        catch (IOException)
        {
            Forget(id);
            worker.Dead = true;
            return false; // the asynchronous path answers 503 or finds the next worker
        }
        Mono.Unix.Native.Syscall.close(fd);
        return true;
    }

    private async Task Handle(Socket client)
    {
        try
        {
            var (head, length, timedOut) = await PeekHead(client);
            if (length == 0) return; // closed before sending a request (a preconnect, a probe): nothing to answer
            if (timedOut)
            {
                Interlocked.Increment(ref _timeouts);
                Log.Write(LogEvent.ClientTimeout, $"{client.RemoteEndPoint}: request head not complete within {_headTimeout.TotalSeconds} s");
                await Reply(client, 408, "Request Timeout");
                return;
            }
            string? host = HostHeader(head, length, out bool malformed);
            if (malformed) { await Reply(client, 400, "Bad Request"); return; }
            var local = (IPEndPoint)client.LocalEndPoint!;
            var vhost = _selector.Select(local.Address, local.Port, host);
            if (vhost is null) { Log.Write(LogEvent.NoVhost, $"no vhost for {local}"); await Reply(client, 404, "Not Found"); return; }
            if (vhost.MaxClients is int max && !await SlotFree(vhost, max))
            {
                Interlocked.Increment(ref _busy);
                Log.Write(LogEvent.VhostBusy, $"{vhost.Name}: MaxClientsVHost {max} reached; 503");
                await Reply(client, 503, "Service Unavailable");
                return;
            }
            var worker = await GetWorker($"{vhost.User}:{vhost.Group}", vhost.User!, vhost.Group!);
            if (worker is null) { await Reply(client, 503, "Service Unavailable"); return; }
            long id = Interlocked.Increment(ref _nextId);
            _inFlight[id] = (vhost, worker);
            _activePerVhost.AddOrUpdate(vhost, 1, (_, n) => n + 1);
            Interlocked.Increment(ref worker.Active);
            // The worker gets a duplicate; this process then closes its own descriptor the
            // ordinary way (no operation is pending, so the close is not abortive).
            int copy = Mono.Unix.Native.Syscall.dup((int)client.Handle);
            try
            {
                if (copy < 0) throw new IOException($"dup: {Mono.Unix.Native.Stdlib.GetLastError()}");
                lock (worker.Gate) new Message(MessageType.Connection, [id.ToString()], copy).Send(worker.Channel);
                Interlocked.Increment(ref worker.Passed);
            }
            catch (IOException)
            {
                Forget(id);
                worker.Dead = true;
                await Reply(client, 503, "Service Unavailable");
            }
            finally { if (copy >= 0) Mono.Unix.Native.Syscall.close(copy); }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            Log.Write(LogEvent.RoutingFailed, $"connection dropped while routing: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            client.Dispose(); // after a hand-over: only this process's descriptor; the worker has its own
        }
    }

    /// <summary>
    /// Peeks until the request head is complete, without consuming it: the worker's Kestrel reads
    /// it again from the socket. Data that trickles in is peeked again after short waits.
    /// </summary>
    private async Task<(byte[] Buffer, int Length, bool TimedOut)> PeekHead(Socket client)
    {
        var buffer = new byte[MaxHead];
        using var timeout = new CancellationTokenSource(_headTimeout);
        int length = 0, delay = 1;
        try
        {
            while (true)
            {
                length = await client.ReceiveAsync(buffer, SocketFlags.Peek, timeout.Token);
                if (length == 0) return (buffer, 0, false);
                if (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) >= 0 || length == buffer.Length) return (buffer, length, false);
                await Task.Delay(delay, timeout.Token);
                delay = Math.Min(delay * 2, 100);
            }
        }
        catch (OperationCanceledException) { return (buffer, Math.Max(length, 1), true); }
    }

    /// <summary>
    /// The Host header of a request head (null for HTTP/1.0 without one), read from the bytes
    /// without building strings for the lines: this runs once per connection.
    /// </summary>
    internal static string? HostHeader(byte[] head, int length, out bool malformed)
    {
        malformed = false;
        ReadOnlySpan<byte> span = head.AsSpan(0, length);
        int end = span.IndexOf("\r\n\r\n"u8);
        if (end >= 0) span = span[..end];
        int eol = span.IndexOf("\r\n"u8);
        var requestLine = eol < 0 ? span : span[..eol];
        // METHOD SP request-target SP HTTP-version, exactly two spaces
        int sp1 = requestLine.IndexOf((byte)' '), sp2 = requestLine.LastIndexOf((byte)' ');
        if (sp1 <= 0 || sp2 <= sp1 + 1 || requestLine[(sp1 + 1)..sp2].IndexOf((byte)' ') >= 0 || !requestLine[(sp2 + 1)..].StartsWith("HTTP/"u8))
        {
            malformed = true;
            return null;
        }
        var target = requestLine[(sp1 + 1)..sp2];
        string? host = null;
        var rest = eol < 0 ? ReadOnlySpan<byte>.Empty : span[(eol + 2)..];
        while (!rest.IsEmpty)
        {
            int e = rest.IndexOf("\r\n"u8);
            var line = e < 0 ? rest : rest[..e];
            rest = e < 0 ? ReadOnlySpan<byte>.Empty : rest[(e + 2)..];
            int colon = line.IndexOf((byte)':');
            if (colon <= 0 || !System.Text.Ascii.EqualsIgnoreCase(line[..colon].Trim((byte)' '), "host"u8)) continue;
            if (host is not null) { malformed = true; return null; } // two Host headers: 400, as Apache
            host = Encoding.Latin1.GetString(line[(colon + 1)..].Trim(" \t"u8));
        }
        // absolute-form target names the host itself (RFC 9112 3.2.2)
        if (!target.IsEmpty && target[0] != (byte)'/' && Uri.TryCreate(Encoding.Latin1.GetString(target), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            host = uri.Authority;
        return host;
    }

    private static async Task Reply(Socket client, int status, string reason)
    {
        string body = $"{status} {reason}\n";
        var bytes = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} {reason}\r\nServer: itkd\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");
        try { await client.SendAsync(bytes); client.Shutdown(SocketShutdown.Send); } catch (SocketException) { }
    }

    /// <summary>
    /// MaxClientsVHost: the count drops when the worker reports a connection closed, a moment
    /// after the client saw its response; a client that reconnects at once is given that moment
    /// (up to 200 ms) before it is turned away, as Apache's synchronous scoreboard would not.
    /// </summary>
    private async Task<bool> SlotFree(VirtualHost vhost, int max)
    {
        for (int waited = 0; _activePerVhost.GetValueOrDefault(vhost) >= max; waited += 5)
        {
            if (waited >= 200) return false;
            await Task.Delay(5);
        }
        return true;
    }

    /// <summary>
    /// The least busy live worker of a pool, or null. Keeps the pool between the snapshot's
    /// MinWorkers and MaxWorkers: asks the master for more while it has fewer than the minimum,
    /// or when even the least busy one has SpareThreshold connections and the maximum allows.
    /// </summary>
    private WorkerLink? Pick(string key, string user, string group)
    {
        var links = _workers.GetValueOrDefault(key);
        WorkerLink? best = null;
        int live = 0;
        if (links is not null)
            foreach (var l in links)
            {
                if (l.Dead) continue;
                live++;
                if (best is null || l.Active < best.Active) best = l;
            }
        if (best is not null && (live < _snapshot.MinWorkers || best.Active >= SpareThreshold && live < _snapshot.MaxWorkers))
        {
            bool ask;
            lock (_pending)
            {
                ask = live + _requested.GetValueOrDefault(key) < Math.Max(_snapshot.MinWorkers, best.Active >= SpareThreshold ? live + 1 : 0);
                if (ask) _requested[key] = _requested.GetValueOrDefault(key) + 1;
            }
            if (ask) SendMaster(Message.Of(MessageType.NeedWorker, user, group));
        }
        return best;
    }

    /// <summary>Connections on the least busy worker beyond which another worker is started.</summary>
    private const int SpareThreshold = 64;

    private async Task<WorkerLink?> GetWorker(string key, string user, string group)
    {
        if (Pick(key, user, group) is { } w) return w;
        TaskCompletionSource<WorkerLink?> tcs;
        bool first = false;
        lock (_pending)
        {
            if (Pick(key, user, group) is { } again) return again;
            if (!_pending.TryGetValue(key, out tcs!))
            {
                _pending[key] = tcs = new TaskCompletionSource<WorkerLink?>(TaskCreationOptions.RunContinuationsAsynchronously);
                first = true; // one request to the master per empty pool; more come from Pick
                _requested[key] = _requested.GetValueOrDefault(key) + 1;
            }
        }
        if (first) SendMaster(Message.Of(MessageType.NeedWorker, user, group));
        var done = await Task.WhenAny(tcs.Task, Task.Delay(TimeSpan.FromSeconds(15)));
        if (done != tcs.Task) { lock (_pending) _pending.Remove(key, out _); return null; }
        return tcs.Task.Result;
    }

    private void Forget(long id)
    {
        if (!_inFlight.TryRemove(id, out var entry)) return;
        _activePerVhost.AddOrUpdate(entry.Vhost, 0, (_, n) => Math.Max(0, n - 1));
        Interlocked.Decrement(ref entry.Worker.Active);
    }

    /// <summary>Messages from one worker: a connection is done. End of stream: the worker is gone.</summary>
    private void ReadWorker(WorkerLink link)
    {
        try
        {
            Message.ReadAll(link.Channel, m =>
            {
                if (m.Type != MessageType.Closed || m.Fd >= 0 || m.Fields.Length == 0 || m.Fields.Length % 2 != 0)
                    throw new ProtocolException($"unexpected {m.Type} from worker {link.Pid}");
                for (int i = 0; i < m.Fields.Length; i += 2)
                {
                    if (!long.TryParse(m.Fields[i], out long id) || !int.TryParse(m.Fields[i + 1], out int n))
                        throw new ProtocolException($"malformed Closed from worker {link.Pid}");
                    Interlocked.Add(ref link.Requests, n);
                    Forget(id);
                }
            });
        }
        catch (Exception e) when (e is ProtocolException or IOException)
        {
            Log.Write(LogEvent.PeerProtocolError, $"worker {link.Pid}: {e.Message}");
        }
        link.Dead = true;
        lock (_pending) _workers[link.Key] = (_workers.GetValueOrDefault(link.Key) ?? []).Where(l => l != link).ToArray();
        foreach (var id in _inFlight.Where(kv => kv.Value.Worker == link).Select(kv => kv.Key).ToList()) Forget(id);
        Mono.Unix.Native.Syscall.close(link.Channel);
        Log.Write(LogEvent.WorkerDetached, $"{link.Key} pid {link.Pid}");
    }

    private string StatusJson() => JsonSerializer.Serialize(new DispatcherStatus(
        Environment.ProcessId, Interlocked.Read(ref _accepted), Interlocked.Read(ref _timeouts), Interlocked.Read(ref _busy),
        _workers.Values.SelectMany(l => l).Select(w => new WorkerLinkStatus(w.Key, w.Pid, w.Active, w.Passed, w.Requests)).ToArray(),
        _activePerVhost.Select(kv => new VhostActivity(kv.Key.Name, kv.Value)).ToArray()), ServerJson.Default.DispatcherStatus);
}

using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>
/// The master's table of pools and of the processes it started: spawns the dispatcher and the
/// workers (posix_spawn with an explicit descriptor list), learns of their exits, throttles a pool
/// whose workers keep dying, and ends what a dead worker left behind (its process group). Pool ids
/// are assigned here, once per (uid, gid), and stay the same across reloads.
/// </summary>
public sealed class Supervisor(LogRelay relay, Action<WorkerProcess, ChildExit> workerExited, Action<DispatcherProcess, ChildExit> dispatcherExited)
{
    /// <summary>Crashes within <see cref="CrashWindow"/> that hold a pool back for <see cref="HoldBack"/>.</summary>
    public const int CrashLimit = 5;
    public static readonly TimeSpan CrashWindow = TimeSpan.FromSeconds(10), HoldBack = TimeSpan.FromSeconds(10);

    private readonly object _gate = new();
    private readonly Dictionary<(uint Uid, uint Gid), PoolState> _pools = new();
    private readonly Dictionary<int, WorkerProcess> _workers = new();
    private readonly int _devNull = Native.open("/dev/null", Native.O_RDWR | Native.O_CLOEXEC, 0);
    private int _nextPoolId;

    /// <summary>Set when the master stops: every exit from then on is expected.</summary>
    public volatile bool Stopping;

    /// <summary>The id of the pool for this identity, made the first time it is seen.</summary>
    public int PoolId(uint uid, uint gid, string user, string group)
    {
        lock (_gate)
        {
            if (!_pools.TryGetValue((uid, gid), out var p)) _pools[(uid, gid)] = p = new PoolState(++_nextPoolId, user, uid, group, gid);
            return p.Id;
        }
    }

    private PoolState? Pool(int id) { lock (_gate) return _pools.Values.FirstOrDefault(p => p.Id == id); }

    public List<PoolState> Pools { get { lock (_gate) return _pools.Values.Where(p => p.Spawned > 0).OrderBy(p => p.Id).ToList(); } }

    public List<WorkerProcess> Workers { get { lock (_gate) return _workers.Values.ToList(); } }

    public WorkerProcess? Worker(int pid) { lock (_gate) return _workers.GetValueOrDefault(pid); }

    private static List<string> ChildEnvironment()
    {
        // Not root's environment (SSH_AUTH_SOCK, HOME, TERM…): a clean one, plus the runtime's tuning.
        var env = new List<string> { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8" };
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && (k.StartsWith("DOTNET_", StringComparison.Ordinal) || k.StartsWith("ITKD_", StringComparison.Ordinal)) && k != "ITKD_MASTER_TITLED")
                env.Add($"{k}={e.Value}");
        return env;
    }

    private (int Pid, Task<ChildExit> Exit) Start(string title, string[] args, byte[] snapshot, int channel, IReadOnlyList<int> extra, string role, uint uid)
    {
        var (path, argv) = Spawner.SelfCommand(title, args);
        if (path is null) throw new IOException("cannot find the itkd executable");
        if (role.StartsWith("worker ", StringComparison.Ordinal) && WorkerImage.Resolve().Path is { } image) path = image;
        int memfd = SealedFile.Create("itkd-snapshot", snapshot);
        var (logRead, logWrite) = LogRelay.NewPipe();
        try
        {
            var fds = new List<int> { _devNull, logWrite, logWrite, memfd, channel };
            fds.AddRange(extra);
            (int Pid, Task<ChildExit> Exit) started;
            lock (Reaper.Gate)
            {
                int pid = Spawner.Spawn(new SpawnRequest(path, argv, ChildEnvironment(), fds) { NewProcessGroup = true, WorkingDirectory = "/" });
                started = (pid, Reaper.Track(pid));
            }
            relay.Attach(logRead, started.Pid, role, uid);
            logRead = -1;
            return started;
        }
        finally
        {
            Native.close(memfd);
            Native.close(logWrite);
            if (logRead >= 0) Native.close(logRead);
        }
    }

    private int _incarnation;

    /// <summary>Starts a dispatcher for a generation. The channel's other end is the caller's.</summary>
    public DispatcherProcess StartDispatcher(Generation gen)
    {
        var (mine, theirs) = FdPassing.SocketPair();
        try
        {
            var (pid, exit) = Start("itkd: dispatcher", ["--role", "dispatcher"], gen.DispatcherSnapshot(Interlocked.Increment(ref _incarnation)), theirs, [], "dispatcher", gen.Snapshot.Dispatcher.Uid);
            var d = new DispatcherProcess(gen, pid, mine);
            mine = -1;
            exit.ContinueWith(t => { d.Exited = true; dispatcherExited(d, t.Result); }, TaskScheduler.Default);
            return d;
        }
        finally
        {
            Native.close(theirs);
            if (mine >= 0) Native.close(mine);
        }
    }

    /// <summary>
    /// What the master answers a dispatcher that asks for a worker: a new worker's pid and the
    /// dispatcher's end of its channel, or why not (throttled, at MaxWorkers) and when to ask again.
    /// </summary>
    public readonly record struct SpawnOutcome(int Pid, int Channel, int RetryAfterMs, string? Refused);

    public SpawnOutcome StartWorker(Generation gen, DispatcherProcess d, int poolId)
    {
        var pool = Pool(poolId) ?? throw new ProtocolException($"no pool {poolId}");
        var spec = gen.Snapshot.Pool(poolId);
        var now = DateTime.UtcNow;
        lock (_gate)
        {
            while (pool.Crashes.Count > 0 && pool.Crashes.Peek() < now - CrashWindow) pool.Crashes.Dequeue();
            if (pool.Crashes.Count >= CrashLimit && pool.HeldBackUntil <= now)
            {
                pool.HeldBackUntil = now + HoldBack;
                pool.Crashes.Clear();
                Log.Write(LogEvent.CrashLoopThrottled, $"pool {pool.Key}: {CrashLimit} crashes within {CrashWindow.TotalSeconds} s; no new worker until {pool.HeldBackUntil:HH:mm:ss}");
            }
            if (pool.HeldBackUntil > now) return new(0, -1, (int)(pool.HeldBackUntil - now).TotalMilliseconds + 1, "crash loop: held back");
            int live = _workers.Values.Count(w => w.Pool == pool && w.Dispatcher == d);
            if (live >= gen.Snapshot.MaxWorkers) return new(0, -1, 1000, $"already {live} worker(s), the most --max-workers allows");
        }
        var (mine, theirs) = FdPassing.SocketPair();
        try
        {
            var (pid, exit) = gen.WithLogs(poolId, (logs, logFds) =>
                Start($"itkd: worker {spec.User}", ["--role", "worker", "--pool", poolId.ToString()], gen.WorkerSnapshot(poolId, logs), theirs, logFds, $"worker {spec.User}", spec.Uid));
            // The master keeps a copy of the dispatcher's end: if the dispatcher dies, the worker
            // does not see its channel close, and the next dispatcher takes it over with it.
            int forDispatcher = Native.dup(mine);
            if (forDispatcher < 0) throw new IOException($"dup: {Native.Error()}");
            var w = new WorkerProcess(pid, pool, gen, d, now) { Channel = mine };
            mine = -1;
            lock (_gate) { _workers[pid] = w; pool.Spawned++; }
            exit.ContinueWith(t => Exited(w, t.Result), TaskScheduler.Default);
            Log.Write(LogEvent.WorkerSpawned, $"pool {pool.Key}: worker pid {pid}");
            return new(pid, forDispatcher, 0, null);
        }
        finally
        {
            Native.close(theirs);
            if (mine >= 0) Native.close(mine);
        }
    }

    private void Exited(WorkerProcess w, ChildExit exit)
    {
        // The worker led its own process group: php-cgi and CGI programs it left go with it.
        Privileges.KillProcessGroup(w.Pid);
        w.CloseChannel();
        bool expected;
        lock (_gate)
        {
            _workers.Remove(w.Pid);
            // Expected: the master stops, the generation drains, the dispatcher retired it or is gone.
            // Anything else — a crash, a kill by its tenant, even a clean exit nobody asked for — counts.
            expected = Stopping || w.Expected || w.Generation.Draining || w.Dispatcher.Exited;
            if (!expected) { w.Pool.Crashes.Enqueue(DateTime.UtcNow); w.Pool.CrashCount++; }
        }
        if (expected) Log.Write(LogEvent.WorkerExited, $"pool {w.Pool.Key}: worker {w.Pid} exited ({exit})");
        else Log.Write(LogEvent.WorkerCrashed, $"pool {w.Pool.Key}: worker {w.Pid} ended unexpectedly ({exit}){(w.KilledBecause is { } why ? $" after it was killed: {why}" : "")}; the next connection starts a new one");
        workerExited(w, exit);
    }

    /// <summary>A dispatcher reports a worker of its own: retired (idle) or unresponsive (killed now).</summary>
    public WorkerProcess? Find(DispatcherProcess d, int poolId, int pid)
    {
        lock (_gate) return _workers.TryGetValue(pid, out var w) && w.Dispatcher == d && w.Pool.Id == poolId ? w : null;
    }

    public bool HeldBack(PoolState p) { lock (_gate) return p.HeldBackUntil > DateTime.UtcNow; }
}

/// <summary>One (uid, gid) and what happened to its workers.</summary>
public sealed class PoolState(int id, string user, uint uid, string group, uint gid)
{
    public int Id { get; } = id;
    public string User { get; } = user;
    public uint Uid { get; } = uid;
    public string Group { get; } = group;
    public uint Gid { get; } = gid;
    public string Key => $"{User}:{Group}";
    public Queue<DateTime> Crashes { get; } = new();
    public int Spawned, CrashCount;
    public DateTime HeldBackUntil;
}

/// <summary>A worker process the master started, and which dispatcher serves it now.</summary>
public sealed class WorkerProcess(int pid, PoolState pool, Generation generation, DispatcherProcess dispatcher, DateTime started)
{
    public int Pid { get; } = pid;
    public PoolState Pool { get; } = pool;
    public Generation Generation { get; } = generation;
    /// <summary>Changes when a new dispatcher takes the worker over after the old one died.</summary>
    public volatile DispatcherProcess Dispatcher = dispatcher;
    public DateTime Started { get; } = started;
    /// <summary>The master's copy of the dispatcher's end of the worker's channel (-1 once closed).</summary>
    public int Channel = -1;

    /// <summary>Closing the master's copy: once the dispatcher's is closed too, the worker sees its channel end and drains.</summary>
    public void CloseChannel()
    {
        int fd = Interlocked.Exchange(ref Channel, -1);
        if (fd >= 0) Native.close(fd);
    }
    /// <summary>Its exit is no crash: the dispatcher retired it.</summary>
    public volatile bool Expected;
    public volatile string? KilledBecause;
}

/// <summary>A dispatcher process and the master's end of its channel.</summary>
public sealed class DispatcherProcess(Generation generation, int pid, int channel)
{
    public Generation Generation { get; } = generation;
    public int Pid { get; } = pid;
    public int Channel { get; } = channel;
    public object SendGate { get; } = new();
    public volatile bool Exited;
    public volatile bool Draining;
    public StatusCollector Status { get; } = new();
}

/// <summary>A dispatcher's answer to one status request, collected from its parts.</summary>
public sealed record StatusReply(StatusEndMessage End, List<LinkCounters> Links, List<VhostCounter> Vhosts);

/// <summary>
/// Collects the parts of a dispatcher's status answers (the list of links and vhosts comes in as
/// many messages as it needs, then an end). A part for a request the master never made is a
/// protocol error; one for a request that timed out is dropped.
/// </summary>
public sealed class StatusCollector
{
    private readonly object _gate = new();
    private readonly Dictionary<int, (List<LinkCounters> Links, List<VhostCounter> Vhosts, TaskCompletionSource<StatusReply> Done)> _open = new();
    private int _highest;

    public Task<StatusReply> Expect(int sequence)
    {
        var tcs = new TaskCompletionSource<StatusReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _highest = Math.Max(_highest, sequence);
            _open[sequence] = (new(), new(), tcs);
            // Requests that were never answered (timed out) are forgotten after a while.
            foreach (int old in _open.Keys.Where(k => k < sequence - 16).ToList()) _open.Remove(old);
        }
        return tcs.Task;
    }

    public void Take(Message m)
    {
        int seq = m switch { StatusLinksMessage x => x.Sequence, StatusVhostsMessage x => x.Sequence, StatusEndMessage x => x.Sequence, _ => throw new ArgumentException(m.Type.ToString()) };
        lock (_gate)
        {
            if (seq <= 0 || seq > _highest) throw new ProtocolException($"a status part for request {seq}, which was never made");
            if (!_open.TryGetValue(seq, out var open)) return;
            switch (m)
            {
                case StatusLinksMessage x:
                    if (open.Links.Count + x.Links.Length > 1_000_000) throw new ProtocolException("status too long");
                    open.Links.AddRange(x.Links);
                    break;
                case StatusVhostsMessage x:
                    if (open.Vhosts.Count + x.Vhosts.Length > 1_000_000) throw new ProtocolException("status too long");
                    open.Vhosts.AddRange(x.Vhosts);
                    break;
                case StatusEndMessage x:
                    _open.Remove(seq);
                    open.Done.TrySetResult(new StatusReply(x, open.Links, open.Vhosts));
                    break;
            }
        }
    }

    /// <summary>The dispatcher is gone: nothing more will come.</summary>
    public void Abandon()
    {
        lock (_gate) { foreach (var o in _open.Values) o.Done.TrySetCanceled(); _open.Clear(); }
    }
}

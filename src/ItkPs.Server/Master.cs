using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>What the operator gave itkd on its command line.</summary>
public sealed record MasterOptions(string ConfigFile, string ControlSocket, string? PidFile, int IdleTimeout, int MinWorkers, int MaxWorkers,
    string PhpCgi, int PhpChildren, string DispatcherUser);

/// <summary>
/// The master, as root, is a monitor rather than a second application: it reads and validates
/// the configuration, binds every Listen, opens the vhost logs it may open, starts the dispatcher,
/// and answers the dispatcher's few requests (<see cref="Handle"/>: a worker for a pool, ending an
/// unresponsive worker, retiring an idle one, status). Workers cannot talk to it at all. It reloads
/// on SIGHUP, stops on SIGTERM/SIGINT, and answers status on a root-only control socket. It never
/// reads a byte of a request and never waits on a worker.
/// </summary>
public sealed class Master(MasterOptions options)
{
    private readonly DateTime _started = DateTime.UtcNow;
    private readonly Dictionary<string, Socket> _listeners = new();
    private readonly ManualResetEventSlim _wake = new();
    private volatile bool _stop, _reload, _restartDispatcher;
    private DateTime _nextDispatcherStart;
    private volatile Generation? _current;
    private volatile ReloadInfo? _lastReload;
    private string _lastErrors = "";
    private int _generation, _statusSequence;
    private Supervisor _supervisor = null!;
    private LogRelay _relay = null!;

    /// <summary>Reads and validates; prints every error as file:line. Null when the config cannot be used.</summary>
    private ServerConfig? Load(out PoolSpec dispatcher)
    {
        dispatcher = new PoolSpec();
        var config = new ConfigReader().Read(options.ConfigFile);
        var all = config.Diagnostics.Concat(ConfigValidator.Validate(config, SystemAccounts.Instance)).ToList();
        foreach (var w in all.Where(d => d.Severity == DiagnosticSeverity.Warning || d.OnlyItsVhost)) Log.Write(LogEvent.ConfigError, w.ToString());
        var errors = all.Where(d => d.Severity == DiagnosticSeverity.Error && !d.OnlyItsVhost).ToList();
        if (config.Listens.Count == 0) errors.Add(ConfigDiagnostic.Error(options.ConfigFile, 0, "no Listen directive: itkd would accept nothing."));
        var account = DispatcherAccount(out string? accountError);
        if (account is null) errors.Add(ConfigDiagnostic.Error(options.ConfigFile, 0, accountError!));
        else
        {
            dispatcher = new PoolSpec { Id = 0, User = account.Value.User.Name, Uid = account.Value.User.Uid, Group = account.Value.Group.Name, Gid = account.Value.Group.Gid };
            // A vhost running as the dispatcher's account could signal or trace the process that routes every site.
            foreach (var vh in config.VirtualHosts)
            {
                var u = vh.User is null ? null : SystemAccounts.Instance.FindUser(vh.User);
                var g = vh.Group is null ? null : SystemAccounts.Instance.FindGroup(vh.Group);
                if (u?.Uid == dispatcher.Uid || g?.Gid == dispatcher.Gid)
                {
                    var (file, line) = vh.Where("AssignUserID");
                    errors.Add(ConfigDiagnostic.Error(file, line,
                        $"vhost {(vh.Name.Length > 0 ? vh.Name : vh.Listen)} would run as {vh.User}:{vh.Group}, the account of itkd's dispatcher ({dispatcher.User}:{dispatcher.Group}); give it an AssignUserID of its own{(vh.AssignedUser is null ? " (it falls back to the server's User/Group)" : "")}."));
                }
            }
        }
        foreach (var e in errors) Console.Error.WriteLine($"itkd: {e}");
        _lastErrors = string.Join("; ", errors.Select(e => e.ToString()));
        return errors.Count == 0 ? config : null;
    }

    /// <summary>
    /// The dispatcher's own system account (--dispatcher-user, default "itkd"): no vhost may use it,
    /// so no tenant can signal or trace the process that routes every site. Created (no home, no
    /// login shell) when missing, as a package would create it.
    /// </summary>
    private (UserAccount User, GroupAccount Group)? DispatcherAccount(out string? error)
    {
        error = null;
        var accounts = SystemAccounts.Instance;
        var user = accounts.FindUser(options.DispatcherUser);
        if (user is null)
        {
            try
            {
                UserProvisioner.CreateSystemUser(options.DispatcherUser, null, null, accounts);
                Log.Write(LogEvent.AccountCreated, $"created the system account {options.DispatcherUser} for the dispatcher (no home, no login shell)");
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                error = $"the dispatcher's account '{options.DispatcherUser}' does not exist and could not be created: {e.Message}";
                return null;
            }
            user = accounts.FindUser(options.DispatcherUser);
        }
        if (user is null) { error = $"the dispatcher's account '{options.DispatcherUser}' does not exist"; return null; }
        if (user.Uid == 0 || user.Gid == 0) { error = $"--dispatcher-user {user.Name} has uid or gid 0: the dispatcher must run unprivileged"; return null; }
        var group = accounts.FindGroup(user.Gid);
        if (group is null) { error = $"the primary group {user.Gid} of '{user.Name}' does not exist"; return null; }
        return (user, group);
    }

    public int Run()
    {
        Log.Role = "master";
        if (Mono.Unix.Native.Syscall.geteuid() != 0) { Console.Error.WriteLine("itkd: the master must run as root (it binds ports and starts each user's workers)."); return 2; }
        MasterProcess.MarkInheritedCloseOnExec();
        MasterProcess.RaiseDescriptorLimit(); // the roles inherit it: the dispatcher holds every connection still sending its head
        bool detached = MasterProcess.DetachControllingTerminal();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; _stop = true; _wake.Set(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; _stop = true; _wake.Set(); });
        // Taken before the control socket and the pid file exist: whoever finds the master through
        // them may signal it at once (before, a SIGHUP in that window ended it). SIGHUP is the
        // operator's reload whatever the parent left: started under nohup (or by any parent that
        // ignores it) the runtime would keep the inherited SIG_IGN and never deliver it, and every
        // reload would silently do nothing. Apache takes its signals the same way.
        MasterProcess.DefaultSignal(1 /* SIGHUP */);
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => { c.Cancel = true; _reload = true; _wake.Set(); });
        var config = Load(out var dispatcher);
        if (config is null) return 2;
        try { RootFiles.PrepareControlSocket(options.ControlSocket); }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException) { Console.Error.WriteLine($"itkd: {e.Message}"); return 2; }
        if (!BindListeners(config, out var bindError)) { Console.Error.WriteLine($"itkd: {bindError}"); CloseListeners(); return 2; }
        ControlServer control;
        try
        {
            control = new ControlServer(options.ControlSocket, StatusAsync);
            if (options.PidFile is not null) RootFiles.WritePidFile(options.PidFile, Environment.ProcessId);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or SocketException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"itkd: {e.Message}");
            CloseListeners();
            return 2;
        }

        _relay = new LogRelay();
        _supervisor = new Supervisor(_relay, WorkerExited, DispatcherExited);
        if (detached) Log.Write(LogEvent.TerminalDetached, "gave up the controlling terminal: no child of itkd can open /dev/tty");
        var (image, imageWhy) = WorkerImage.Resolve();
        Log.Write(LogEvent.WorkerImage, image is null ? $"workers start from this itkd itself: {imageWhy}" : imageWhy);
        _current = StartGeneration(config, dispatcher);
        Log.Write(LogEvent.MasterStarted, $"serving {config.VirtualHosts.Count} vhost(s) on {string.Join(", ", _listeners.Keys)}; control socket {options.ControlSocket}; dispatcher as {dispatcher.User}");
        Console.Out.WriteLine($"itkd: listening on {string.Join(", ", _listeners.Keys)}");
        Console.Out.Flush();

        while (!_stop)
        {
            _wake.Wait(TimeSpan.FromSeconds(1));
            _wake.Reset();
            Reaper.ReapAll(); // in case a SIGCHLD was merged with another
            if (_reload) { _reload = false; Reload(); }
            if (_restartDispatcher && !_stop && DateTime.UtcNow >= _nextDispatcherStart)
            {
                _restartDispatcher = false;
                // A dispatcher that dies at once (a broken snapshot, a resource limit) is started again
                // at most once a second, not in a tight loop.
                _nextDispatcherStart = DateTime.UtcNow.AddSeconds(1);
                var gen = _current!;
                if (gen.Dispatcher is { Exited: true } dead)
                {
                    // The workers never noticed (the master holds the other copy of their channels):
                    // the new dispatcher takes them over with their open connections.
                    var adopted = _supervisor.Workers.Where(w => w.Dispatcher == dead && !w.Expected && w.Channel >= 0).ToList();
                    StartDispatcher(gen, adopted);
                    Log.Write(LogEvent.DispatcherExited, $"generation {gen.Number}: dispatcher {gen.Dispatcher!.Pid} took over {adopted.Count} worker(s) of {dead.Pid}");
                }
            }
        }
        Stop();
        control.Dispose();
        try { File.Delete(options.ControlSocket); } catch (IOException) { }
        if (options.PidFile is not null) try { File.Delete(options.PidFile); } catch (IOException) { }
        Log.Write(LogEvent.Stopped, "stopped");
        _relay.Dispose();
        return 0;
    }

    private static string Key(HostAddress a) => a.ToString();

    private bool BindListeners(ServerConfig config, out string? error)
    {
        error = null;
        foreach (var (address, file, line) in config.Listens)
        {
            string key = Key(address);
            if (_listeners.ContainsKey(key)) continue;
            try
            {
                Socket s;
                if (address.AnyHost)
                {
                    s = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
                    ReuseAddress(s);
                    s.Bind(new IPEndPoint(IPAddress.IPv6Any, address.Port!.Value));
                }
                else
                {
                    var ip = address.Ip!;
                    s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    ReuseAddress(s);
                    s.Bind(new IPEndPoint(ip, address.Port!.Value));
                }
                // A connection is accepted once its first bytes are there: the dispatcher then routes it
                // at once, and holds it (a moment it could die in) for as short as possible.
                s.SetRawSocketOption(6 /* IPPROTO_TCP */, 9 /* TCP_DEFER_ACCEPT */, BitConverter.GetBytes(5));
                s.Listen(4096);
                _listeners[key] = s;
                Log.Write(LogEvent.ListenerBound, $"bound {key} ({file}:{line})");
            }
            catch (SocketException e)
            {
                error = $"{file}:{line}: error: Listen {address}: {e.Message}";
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// SO_REUSEADDR alone (a restart need not wait out TIME_WAIT). .NET's ReuseAddress also sets
    /// SO_REUSEPORT on Linux, which would let a second server bind the same port and silently share
    /// its connections: a port in use must be an error at start-up.
    /// </summary>
    private static void ReuseAddress(Socket s) => s.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));

    private void CloseListeners() { foreach (var s in _listeners.Values) s.Dispose(); _listeners.Clear(); }

    /// <summary>Resolves the configuration into a generation's snapshot: pools by (uid, gid), each vhost's pool.</summary>
    private Generation StartGeneration(ServerConfig config, PoolSpec dispatcher)
    {
        int number = ++_generation;
        var pools = new Dictionary<int, PoolSpec>();
        var vhostPools = new List<int>();
        foreach (var vh in config.VirtualHosts)
        {
            // Validated: both exist and are not root.
            var u = SystemAccounts.Instance.FindUser(vh.User!)!;
            var g = SystemAccounts.Instance.FindGroup(vh.Group!)!;
            int id = _supervisor.PoolId(u.Uid, g.Gid, u.Name, g.Name);
            pools.TryAdd(id, new PoolSpec { Id = id, User = u.Name, Uid = u.Uid, Group = g.Name, Gid = g.Gid, IdleTimeoutSeconds = 0 });
            // A pool serves all its user's vhosts: it lives as long as the most patient of them asks.
            int idle = vh.IdleTimeoutSeconds ?? config.IdleTimeoutSeconds ?? options.IdleTimeout;
            pools[id].IdleTimeoutSeconds = Math.Max(pools[id].IdleTimeoutSeconds, idle);
            vhostPools.Add(id);
        }
        var snapshot = new Snapshot
        {
            Generation = number, ConfigFile = config.MainFile,
            Listens = config.Listens.DistinctBy(l => Key(l.Address)).Select(l => new ListenSpec
            {
                Address = Key(l.Address), Tls = TlsPolicy.IsTlsListen(config, l.Address),
                H2c = TlsPolicy.Reachable(config, l.Address).Any(v => v.EffectiveProtocols.Contains(HttpProtocolNames.H2c)),
            }).ToList(),
            Pools = pools.Values.OrderBy(p => p.Id).ToList(), VirtualHosts = config.VirtualHosts, VhostPools = vhostPools, Dispatcher = dispatcher,
            UidMin = config.UidRange.Min, UidMax = config.UidRange.Max, GidMin = config.GidRange.Min, GidMax = config.GidRange.Max,
            HeaderTimeoutSeconds = config.HeaderTimeoutSeconds, KeepAliveTimeoutSeconds = config.KeepAliveTimeoutSeconds, MinWorkers = options.MinWorkers, MaxWorkers = options.MaxWorkers,
            ServerDirectives = config.Directives, ServerSections = config.Directories,
            TimeoutSeconds = config.TimeoutSeconds, PhpCgi = options.PhpCgi, PhpChildren = options.PhpChildren,
        };
        var gen = new Generation { Number = number, Config = config, Snapshot = snapshot };
        gen.OpenLogs();
        StartDispatcher(gen);
        return gen;
    }

    /// <summary>A dispatcher for the generation: first the workers it takes over (before it can accept a connection that would ask for a worker), then the listeners.</summary>
    private void StartDispatcher(Generation gen, IReadOnlyList<WorkerProcess>? adopt = null)
    {
        var d = _supervisor.StartDispatcher(gen);
        SetSendTimeout(d.Channel, 5);
        gen.Dispatcher = d;
        foreach (var w in adopt ?? [])
        {
            w.Dispatcher = d;
            Send(d, new WorkerUpMessage(w.Pool.Id, w.Pid, Adopted: true), w.Channel);
        }
        for (int i = 0; i < gen.Snapshot.Listens.Count; i++)
            Send(d, new ListenerMessage(i), (int)_listeners[gen.Snapshot.Listens[i].Address].Handle);
        Log.Write(LogEvent.DispatcherSpawned, $"generation {gen.Number}: dispatcher pid {d.Pid}");
        new Thread(() => ReadDispatcher(d)) { IsBackground = true, Name = $"dispatcher-{d.Pid}" }.Start();
    }

    /// <summary>A send that waits at most a few seconds: a dispatcher that stops reading is ended, never waited on.</summary>
    private static unsafe void SetSendTimeout(int fd, int seconds)
    {
        long* tv = stackalloc long[2] { seconds, 0 };
        Native.setsockopt(fd, Native.SOL_SOCKET, 21 /* SO_SNDTIMEO */, (int*)tv, 16);
    }

    private void Send(DispatcherProcess d, Message m, int fd = -1)
    {
        if (d.Exited) return;
        SendResult r;
        lock (d.SendGate) r = Protocol.Send(d.Channel, m, fd);
        if (r == SendResult.WouldBlock)
        {
            Log.Write(LogEvent.DispatcherExited, $"dispatcher {d.Pid} has not read its channel for 5 s; ending it");
            Privileges.Kill(d.Pid);
        }
    }

    /// <summary>Messages from a dispatcher until its channel closes; anything outside the protocol ends it.</summary>
    private void ReadDispatcher(DispatcherProcess d)
    {
        var buffer = new byte[Protocol.MaxMessage + 1];
        try
        {
            while (Protocol.Receive(d.Channel, Direction.DispatcherToMaster, buffer, false, out var m, out _) == ReceiveStatus.Message)
                Handle(d, m!);
        }
        catch (Exception e) when (e is ProtocolException or IOException)
        {
            Log.Write(LogEvent.DispatcherExited, $"dispatcher {d.Pid}: {e.Message}; ending it");
            Privileges.Kill(d.Pid);
        }
    }

    /// <summary>
    /// The monitor's table: what a dispatcher may ask, and what the master checks before it acts.
    /// NeedWorker: a pool of this generation, not draining, within --max-workers and the crash
    /// throttle. WorkerUnresponsive / WorkerRetired: a live worker of that pool given to this very
    /// dispatcher. Status parts: answers to a request the master made.
    /// </summary>
    private void Handle(DispatcherProcess d, Message m)
    {
        var gen = d.Generation;
        switch (m)
        {
            case NeedWorkerMessage x:
                if (!gen.Snapshot.Pools.Any(p => p.Id == x.PoolId)) throw new ProtocolException($"a worker for pool {x.PoolId}, which this generation does not have");
                if (gen.Draining || d.Draining || _supervisor.Stopping) { Send(d, new WorkerRefusedMessage(x.PoolId, 1000, "draining")); return; }
                Supervisor.SpawnOutcome outcome;
                try { outcome = _supervisor.StartWorker(gen, d, x.PoolId); }
                catch (Exception e) when (e is IOException or InvalidOperationException)
                {
                    Log.Write(LogEvent.WorkerCrashed, $"pool {x.PoolId}: cannot start a worker: {e.Message}");
                    outcome = new(0, -1, 1000, "cannot start a worker");
                }
                if (outcome.Refused is not null) { Send(d, new WorkerRefusedMessage(x.PoolId, outcome.RetryAfterMs, outcome.Refused)); return; }
                try { Send(d, new WorkerUpMessage(x.PoolId, outcome.Pid), outcome.Channel); }
                finally { Native.close(outcome.Channel); }
                break;
            case WorkerUnresponsiveMessage x:
                if (_supervisor.Find(d, x.PoolId, x.Pid) is { } stuck)
                {
                    stuck.KilledBecause = x.Reason;
                    Log.Write(LogEvent.WorkerKilled, $"pool {stuck.Pool.Key}: worker {x.Pid} {x.Reason}; killing it and what it started");
                    Privileges.KillProcessGroup(x.Pid);
                }
                break;
            case WorkerRetiredMessage x:
                if (_supervisor.Find(d, x.PoolId, x.Pid) is { } idle) { idle.Expected = true; idle.CloseChannel(); }
                break;
            case StatusLinksMessage or StatusVhostsMessage or StatusEndMessage:
                d.Status.Take(m);
                break;
            default:
                throw new ProtocolException($"unexpected {m.Type} from the dispatcher");
        }
    }

    private void WorkerExited(WorkerProcess w, ChildExit exit)
    {
        if (!w.Dispatcher.Exited) Send(w.Dispatcher, new WorkerGoneMessage(w.Pool.Id, w.Pid));
        _wake.Set();
    }

    private void DispatcherExited(DispatcherProcess d, ChildExit exit)
    {
        Native.close(d.Channel);
        d.Status.Abandon();
        if (_stop || d.Draining || d.Generation.Draining || d.Generation != _current)
        {
            // Its workers drain when their channels end: the dispatcher's copy is gone, close the master's.
            foreach (var w in _supervisor.Workers.Where(w => w.Dispatcher == d)) w.CloseChannel();
            return;
        }
        Log.Write(LogEvent.DispatcherExited, $"dispatcher {d.Pid} ended unexpectedly ({exit}); a new one takes over its workers and their connections");
        _restartDispatcher = true;
        _wake.Set();
    }

    private void Reload()
    {
        Log.Write(LogEvent.ReloadStarted, $"re-reading {options.ConfigFile}");
        var config = Load(out var dispatcher);
        string? error = null;
        if (config is null) error = _lastErrors;
        else if (!BindListeners(config, out error)) { }
        if (error is not null)
        {
            _lastReload = new ReloadInfo(DateTime.UtcNow, false, $"{error}; the running configuration stays");
            Log.Write(LogEvent.ReloadRejected, _lastReload.Message);
            return;
        }
        var old = _current!;
        _current = StartGeneration(config!, dispatcher);
        // The old dispatcher stops accepting; its workers finish what they have, then exit.
        old.Draining = true;
        if (old.Dispatcher is { } od) { od.Draining = true; Send(od, new DrainMessage()); }
        old.Dispose();
        var keep = new HashSet<string>(config!.Listens.Select(l => Key(l.Address)));
        foreach (var gone in _listeners.Keys.Where(k => !keep.Contains(k)).ToList()) { _listeners[gone].Dispose(); _listeners.Remove(gone); }
        _lastReload = new ReloadInfo(DateTime.UtcNow, true, $"generation {_current.Number}");
        Log.Write(LogEvent.ReloadDone, $"generation {_current.Number} serving; generation {old.Number} draining");
    }

    private void Stop()
    {
        Log.Write(LogEvent.StopRequested, "stopping: dispatcher and workers finish in-flight requests");
        _supervisor.Stopping = true;
        var gen = _current!;
        gen.Draining = true;
        if (gen.Dispatcher is { } d) { d.Draining = true; Send(d, new DrainMessage()); }
        CloseListeners();
        var deadline = DateTime.UtcNow.AddSeconds(Worker.DrainSeconds + 30);
        while (DateTime.UtcNow < deadline && (_supervisor.Workers.Count > 0 || gen.Dispatcher is { Exited: false }))
        {
            Reaper.ReapAll();
            Thread.Sleep(20);
        }
        foreach (var w in _supervisor.Workers) Privileges.KillProcessGroup(w.Pid);
        if (gen.Dispatcher is { Exited: false } left) Privileges.Kill(left.Pid);
        gen.Dispose();
        _relay.WaitDrained(TimeSpan.FromSeconds(5));
    }

    /// <summary>The control socket's answer: the master's view, with the current dispatcher's counters.</summary>
    private async Task<MasterStatus> StatusAsync()
    {
        // The reload result first, then the generation: Reload sets them in the other order,
        // so a reader never sees a new result with the old generation.
        var lastReload = _lastReload;
        var gen = _current!;
        DispatcherStatus? dispatcherStatus = null;
        if (gen.Dispatcher is { Exited: false } d)
        {
            int seq = Interlocked.Increment(ref _statusSequence);
            var wait = d.Status.Expect(seq);
            Send(d, new StatusRequestMessage(seq));
            StatusReply? reply = null;
            try { if (await Task.WhenAny(wait, Task.Delay(3000)) == wait) reply = await wait; }
            catch (TaskCanceledException) { } // the dispatcher went away meanwhile
            if (reply is not null)
            {
                var pools = gen.Snapshot.Pools.ToDictionary(p => p.Id);
                dispatcherStatus = new DispatcherStatus(d.Pid, reply.End.Accepted, reply.End.Timeouts, reply.End.Busy, reply.End.Refused,
                    reply.Links.Select(l => new WorkerLinkStatus(pools.TryGetValue(l.PoolId, out var p) ? $"{p.User}:{p.Group}" : $"pool {l.PoolId}", l.PoolId, l.Pid, l.Active, l.Passed, l.Requests)).ToArray(),
                    reply.Vhosts.Where(v => v.Vhost >= 0 && v.Vhost < gen.Snapshot.VirtualHosts.Count)
                        .Select(v => new VhostActivity(gen.Snapshot.VirtualHosts[v.Vhost].Name, v.Active)).ToArray());
            }
        }
        var workers = _supervisor.Workers;
        var poolInfo = _supervisor.Pools.Select(p =>
        {
            var live = workers.Where(w => w.Pool == p && !w.Generation.Draining).Select(w => w.Pid).ToArray();
            return new PoolInfo(p.Key, p.Id, p.User, p.Group, live.Length, live, p.Spawned, p.CrashCount, _supervisor.HeldBack(p));
        }).ToArray();
        return new MasterStatus(Environment.ProcessId, options.ConfigFile, gen.Number, gen.Dispatcher?.Pid ?? 0, _listeners.Keys.ToArray(),
            _started, (int)(DateTime.UtcNow - _started).TotalSeconds, poolInfo, lastReload, dispatcherStatus);
    }
}

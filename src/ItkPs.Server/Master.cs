using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>
/// The master, as root: reads and validates the configuration, binds every Listen, starts the
/// dispatcher and, when the dispatcher asks, a worker per (uid, gid); supervises them, reloads
/// on SIGHUP, stops on SIGTERM, and answers status on a root-only control socket. It never
/// reads a byte of a request.
/// </summary>
public sealed class Master
{
    private readonly string _configFile, _controlPath, _runDir;
    private readonly string? _pidFile;
    private readonly int _idleTimeout;
    private readonly DateTime _started = DateTime.UtcNow;
    private readonly object _gate = new();
    private readonly Dictionary<string, Socket> _listeners = new();
    private readonly Dictionary<string, Pool> _pools = new();
    private readonly ManualResetEventSlim _wake = new();
    private volatile bool _stop, _reload;
    private volatile Generation? _current;
    private volatile Box? _lastReloadBox;
    private (DateTime At, bool Ok, string Message)? _lastReload { get => _lastReloadBox?.Value; set => _lastReloadBox = value is null ? null : new Box(value.Value); }
    private sealed record Box((DateTime At, bool Ok, string Message) Value);
    private string _lastErrors = "";
    private int _generation;

    private sealed class Pool
    {
        public required string User, Group;
        public List<Process> Workers { get; } = new();
        public List<DateTime> Crashes { get; } = new();
        public int Spawned, CrashCount;
        public DateTime ThrottledUntil;
    }

    private sealed class Generation
    {
        public required int Number;
        public required Snapshot Snapshot;
        public required string SnapshotPath;
        public required Process Dispatcher;
        public required int Channel;
        public readonly object SendGate = new();
        public TaskCompletionSource<string>? PendingStatus;
    }

    private readonly int _minWorkers, _maxWorkers;

    private readonly string _phpCgi;
    private readonly int _phpChildren;

    public Master(string configFile, string controlPath, string? pidFile, int idleTimeout, int minWorkers = 1, int maxWorkers = 1,
        string phpCgi = "/usr/bin/php-cgi", int phpChildren = 4)
    {
        _configFile = configFile; _controlPath = controlPath; _pidFile = pidFile; _idleTimeout = idleTimeout;
        _minWorkers = Math.Max(1, minWorkers); _maxWorkers = Math.Max(_minWorkers, maxWorkers);
        _phpCgi = phpCgi; _phpChildren = Math.Max(1, phpChildren);
        _runDir = Path.Combine(Path.GetDirectoryName(controlPath)!, $"itkd-{Environment.ProcessId}");
    }

    /// <summary>Reads and validates; prints every error as file:line. Null when the config cannot be used.</summary>
    private ServerConfig? Load()
    {
        var config = new ConfigReader().Read(_configFile);
        var all = config.Diagnostics.Concat(ConfigValidator.Validate(config, SystemAccounts.Instance)).ToList();
        foreach (var w in all.Where(d => d.Severity == DiagnosticSeverity.Warning)) Log.Write(LogEvent.ConfigError, w.ToString());
        var errors = all.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (config.User is null || config.Group is null)
            errors.Add(ConfigDiagnostic.Error(_configFile, 0, "User and Group must name the unprivileged account the dispatcher runs as (e.g. User www-data)."));
        if (config.Listens.Count == 0) errors.Add(ConfigDiagnostic.Error(_configFile, 0, "no Listen directive: itkd would accept nothing."));
        foreach (var e in errors) Console.Error.WriteLine($"itkd: {e}");
        _lastErrors = string.Join("; ", errors.Select(e => e.ToString()));
        return errors.Count == 0 ? config : null;
    }

    public int Run()
    {
        Log.Role = "master";
        if (Mono.Unix.Native.Syscall.geteuid() != 0) { Console.Error.WriteLine("itkd: the master must run as root (it binds ports and starts each user's workers)."); return 2; }
        var config = Load();
        if (config is null) return 2;
        if (!BindListeners(config, out var bindError)) { Console.Error.WriteLine($"itkd: {bindError}"); CloseListeners(); return 2; }

        Directory.CreateDirectory(Path.GetDirectoryName(_controlPath)!);
        Directory.CreateDirectory(_runDir);
        File.SetUnixFileMode(_runDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var control = StartControlSocket();
        if (_pidFile is not null) File.WriteAllText(_pidFile, Environment.ProcessId + "\n");

        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; _stop = true; _wake.Set(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; _stop = true; _wake.Set(); });
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => { c.Cancel = true; _reload = true; _wake.Set(); });

        _current = StartGeneration(config);
        Log.Write(LogEvent.MasterStarted, $"serving {config.VirtualHosts.Count} vhost(s) on {string.Join(", ", _listeners.Keys)}; control socket {_controlPath}");
        Console.Out.WriteLine($"itkd: listening on {string.Join(", ", _listeners.Keys)}");
        Console.Out.Flush();

        while (!_stop)
        {
            _wake.Wait(TimeSpan.FromSeconds(1));
            _wake.Reset();
            if (_reload) { _reload = false; Reload(); }
            if (!_stop && _current!.Dispatcher.HasExited)
            {
                Log.Write(LogEvent.DispatcherExited, $"dispatcher {_current.Dispatcher.Id} exited ({_current.Dispatcher.ExitCode}); starting a new one");
                var c = Load();
                _current = StartGeneration(c ?? throw new InvalidOperationException("configuration became invalid"));
            }
        }
        Stop();
        control.Dispose();
        try { File.Delete(_controlPath); } catch (IOException) { }
        if (_pidFile is not null) try { File.Delete(_pidFile); } catch (IOException) { }
        try { Directory.Delete(_runDir, true); } catch (IOException) { }
        Log.Write(LogEvent.Stopped, "stopped");
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
                    s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    s.Bind(new IPEndPoint(IPAddress.IPv6Any, address.Port!.Value));
                }
                else
                {
                    var ip = address.Ip!;
                    s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    s.Bind(new IPEndPoint(ip, address.Port!.Value));
                }
                s.Listen(1024);
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

    private void CloseListeners() { foreach (var s in _listeners.Values) s.Dispose(); _listeners.Clear(); }

    /// <summary>A dispatcher for a snapshot of the configuration, with the listeners handed over.</summary>
    private Generation StartGeneration(ServerConfig config)
    {
        int number = ++_generation;
        var snapshot = Snapshot.From(config, number, _minWorkers, _maxWorkers, _phpCgi, _phpChildren);
        string path = snapshot.Save(_runDir);
        var (mine, theirs) = FdPassing.SocketPair();
        var process = Spawner.Spawn("itkd: dispatcher", ["--role", "dispatcher", "--config", path, "--channel", theirs.ToString()], [theirs]);
        Mono.Unix.Native.Syscall.close(theirs);
        var gen = new Generation { Number = number, Snapshot = snapshot, SnapshotPath = path, Dispatcher = process, Channel = mine };
        foreach (var key in snapshot.Listens.Distinct())
            lock (gen.SendGate) new Message(MessageType.Listener, [key], (int)_listeners[key].Handle).Send(mine);
        Log.Write(LogEvent.DispatcherSpawned, $"generation {number}: dispatcher pid {process.Id}");
        new Thread(() => ReadDispatcher(gen)) { IsBackground = true, Name = $"dispatcher-{number}" }.Start();
        return gen;
    }

    /// <summary>Messages from a dispatcher: worker requests and status replies. Anything else ends it.</summary>
    private void ReadDispatcher(Generation gen)
    {
        try
        {
            Message.ReadAll(gen.Channel, m =>
            {
                if (m.Fd >= 0) throw new ProtocolException($"unexpected descriptor with {m.Type}");
                switch (m.Type)
                {
                    case MessageType.NeedWorker when m.Fields.Length == 2:
                        // The dispatcher is unprivileged: it may only ask for users its vhosts name.
                        if (!gen.Snapshot.VirtualHosts.Any(v => v.User == m.Fields[0] && v.Group == m.Fields[1]))
                            throw new ProtocolException($"worker requested for {m.Fields[0]}:{m.Fields[1]}, which no vhost names");
                        SpawnWorker(gen, m.Fields[0], m.Fields[1]);
                        break;
                    case MessageType.Status when m.Fields.Length == 1: gen.PendingStatus?.TrySetResult(m.Fields[0]); break;
                    default: throw new ProtocolException($"unexpected {m.Type} from the dispatcher");
                }
            });
        }
        catch (Exception e) when (e is ProtocolException or IOException)
        {
            Log.Write(LogEvent.DispatcherExited, $"dispatcher {gen.Dispatcher.Id}: {e.Message}; ending it");
            try { gen.Dispatcher.Kill(); } catch (InvalidOperationException) { }
        }
        Mono.Unix.Native.Syscall.close(gen.Channel);
    }

    private void SpawnWorker(Generation gen, string user, string group)
    {
        string key = $"{user}:{group}";
        Pool pool;
        lock (_gate)
        {
            if (!_pools.TryGetValue(key, out pool!)) _pools[key] = pool = new Pool { User = user, Group = group };
            // A crash loop: five crashes within ten seconds holds the pool back for ten seconds.
            pool.Crashes.RemoveAll(t => t < DateTime.UtcNow.AddSeconds(-10));
            if (pool.Crashes.Count >= 5 && pool.ThrottledUntil < DateTime.UtcNow)
            {
                pool.ThrottledUntil = DateTime.UtcNow.AddSeconds(10);
                Log.Write(LogEvent.CrashLoopThrottled, $"pool {key}: {pool.Crashes.Count} crashes in 10 s; no new worker until {pool.ThrottledUntil:HH:mm:ss}");
            }
        }
        if (pool.ThrottledUntil > DateTime.UtcNow)
        {
            lock (gen.SendGate) Message.Of(MessageType.WorkerFailed, key, $"crash loop: throttled until {pool.ThrottledUntil:O}").Send(gen.Channel);
            return;
        }
        var (mine, theirs) = FdPassing.SocketPair();
        Process process;
        try
        {
            process = Spawner.Spawn($"itkd: worker {user}", ["--role", "worker", "--config", gen.SnapshotPath, "--channel", theirs.ToString(),
                "--user", user, "--group", group, "--worker-idle-timeout", _idleTimeout.ToString()], [theirs]);
        }
        finally { Mono.Unix.Native.Syscall.close(theirs); }
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => WorkerExited(pool, key, process);
        lock (_gate) { pool.Workers.Add(process); pool.Spawned++; }
        lock (gen.SendGate) new Message(MessageType.WorkerChannel, [key, process.Id.ToString()], mine).Send(gen.Channel);
        Mono.Unix.Native.Syscall.close(mine);
        Log.Write(LogEvent.WorkerSpawned, $"pool {key}: worker pid {process.Id}");
    }

    private void WorkerExited(Pool pool, string key, Process p)
    {
        int code = p.ExitCode;
        // The worker leads its own process group: php-cgi and CGI children it left go with it.
        Privileges.KillProcessGroup(p.Id);
        lock (_gate)
        {
            pool.Workers.Remove(p);
            if (code != 0 && !_stop) { pool.Crashes.Add(DateTime.UtcNow); pool.CrashCount++; }
        }
        if (code == 0 || _stop) Log.Write(LogEvent.WorkerExited, $"pool {key}: worker {p.Id} exited");
        else Log.Write(LogEvent.WorkerCrashed, $"pool {key}: worker {p.Id} died (status {code}); the next connection starts a new one");
    }

    private void Reload()
    {
        Log.Write(LogEvent.ReloadStarted, $"re-reading {_configFile}");
        var config = Load();
        if (config is null)
        {
            _lastReload = (DateTime.UtcNow, false, $"{_lastErrors}; the running configuration stays");
            Log.Write(LogEvent.ReloadRejected, _lastReload.Value.Message);
            return;
        }
        if (!BindListeners(config, out var error))
        {
            _lastReload = (DateTime.UtcNow, false, $"{error}; the running configuration stays");
            Log.Write(LogEvent.ReloadRejected, _lastReload.Value.Message);
            return;
        }
        var old = _current!;
        _current = StartGeneration(config);
        // The old dispatcher stops accepting; its workers finish what they have, then exit.
        lock (old.SendGate) { try { Message.Of(MessageType.Drain).Send(old.Channel); } catch (IOException) { } }
        var keep = new HashSet<string>(config.Listens.Select(l => Key(l.Address)));
        foreach (var gone in _listeners.Keys.Where(k => !keep.Contains(k)).ToList()) { _listeners[gone].Dispose(); _listeners.Remove(gone); }
        _lastReload = (DateTime.UtcNow, true, $"generation {_current.Number}");
        Log.Write(LogEvent.ReloadDone, $"generation {_current.Number} serving; generation {old.Number} draining");
    }

    private void Stop()
    {
        Log.Write(LogEvent.StopRequested, "stopping: dispatcher and workers finish in-flight requests");
        var gen = _current!;
        lock (gen.SendGate) { try { Message.Of(MessageType.Drain).Send(gen.Channel); } catch (IOException) { } }
        CloseListeners();
        List<Process> all;
        lock (_gate) all = _pools.Values.SelectMany(p => p.Workers).Append(gen.Dispatcher).ToList();
        var deadline = DateTime.UtcNow.AddSeconds(Worker.DrainSeconds + 30);
        foreach (var p in all)
        {
            var left = deadline - DateTime.UtcNow;
            if (left < TimeSpan.Zero || !p.WaitForExit(left)) { try { p.Kill(); } catch (InvalidOperationException) { } }
        }
    }

    private IDisposable StartControlSocket()
    {
        if (File.Exists(_controlPath)) File.Delete(_controlPath);
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var oldMask = Mono.Unix.Native.Syscall.umask(Mono.Unix.Native.FilePermissions.S_IRWXG | Mono.Unix.Native.FilePermissions.S_IRWXO);
        try { s.Bind(new UnixDomainSocketEndPoint(_controlPath)); }
        finally { Mono.Unix.Native.Syscall.umask(oldMask); }
        File.SetUnixFileMode(_controlPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        s.Listen(16);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket c;
                try { c = await s.AcceptAsync(); } catch (Exception) { return; }
                _ = Task.Run(() => Answer(c));
            }
        });
        return s;
    }

    /// <summary>The control protocol: one line in ("status"), one JSON document out.</summary>
    private async Task Answer(Socket client)
    {
        using (client)
        {
            var buffer = new byte[256];
            int n = await client.ReceiveAsync(buffer);
            string command = Encoding.ASCII.GetString(buffer, 0, n).Trim();
            Log.Write(LogEvent.ControlRequest, command);
            string reply = command == "status" ? await Status() : JsonSerializer.Serialize(new ControlError($"unknown command '{command}'"), ServerJson.Default.ControlError);
            await client.SendAsync(Encoding.UTF8.GetBytes(reply + "\n"));
        }
    }

    private async Task<string> Status()
    {
        // The reload result first, then the generation: Reload sets them in the other order,
        // so a reader never sees a new result with the old generation.
        var lastReload = _lastReload;
        var gen = _current!;
        var tcs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        gen.PendingStatus = tcs;
        lock (gen.SendGate) Message.Of(MessageType.StatusRequest).Send(gen.Channel);
        string dispatcher = await Task.WhenAny(tcs.Task, Task.Delay(3000)) == tcs.Task ? tcs.Task.Result : "{}";
        var pools = new List<PoolInfo>();
        lock (_gate)
            foreach (var (key, p) in _pools)
                pools.Add(new PoolInfo(key, p.User, p.Group, p.Workers.Count, p.Workers.Select(w => w.Id).ToArray(), p.Spawned, p.CrashCount, p.ThrottledUntil > DateTime.UtcNow));
        using var doc = JsonDocument.Parse(dispatcher);
        return JsonSerializer.Serialize(new MasterStatus(Environment.ProcessId, _configFile, gen.Number, gen.Dispatcher.Id, _listeners.Keys.ToArray(),
            _started, (int)(DateTime.UtcNow - _started).TotalSeconds, pools.ToArray(),
            lastReload is { } r ? new ReloadInfo(r.At, r.Ok, r.Message) : null, doc.RootElement.Clone()), ServerJson.Default.MasterStatus);
    }
}

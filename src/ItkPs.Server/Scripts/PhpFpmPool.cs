using System.Globalization;
using ItkPs.Server.Privileged;
using System.Text;
using System.Text.Json;

namespace ItkPs.Server.Scripts;

/// <summary>
/// What PHP itself says of each ini setting in this php-fpm: the value php.ini gives it (what a
/// child starts with) and where it may be changed (ini_get_all's access bits). mod_php refuses a
/// php_value for a setting only php.ini or php_admin_value may set (PHP_INI_SYSTEM); php-fpm's
/// PHP_VALUE would not refuse it, so the worker does.
/// </summary>
public sealed class PhpIniDefaults
{
    private const int PerDir = 2;
    private readonly Dictionary<string, (string Value, int Access)> _ini;

    public PhpIniDefaults(Dictionary<string, (string, int)> ini) { _ini = ini; }

    public static readonly PhpIniDefaults Unknown = new(new());

    /// <summary>Whether a .htaccess or vhost php_value may set it (PHP_INI_PERDIR or PHP_INI_ALL).</summary>
    public bool PerDirectory(string name) => _ini.TryGetValue(name, out var e) && (e.Access & PerDir) != 0;

    /// <summary>The php.ini value, to put a setting back after a request that changed it.</summary>
    public string? Default(string name) => _ini.TryGetValue(name, out var e) ? e.Value : null;

    public int Count => _ini.Count;

    /// <summary>Reads ini_get_all(null, true) as JSON: name → {global_value, local_value, access}.</summary>
    public static PhpIniDefaults Parse(string json)
    {
        var ini = new Dictionary<string, (string, int)>(StringComparer.Ordinal);
        using var doc = JsonDocument.Parse(json);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Object) continue;
            string value = p.Value.TryGetProperty("global_value", out var g) && g.ValueKind == JsonValueKind.String ? g.GetString()! : "";
            int access = p.Value.TryGetProperty("access", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetInt32() : 0;
            ini[p.Name] = (value, access);
        }
        return new PhpIniDefaults(ini);
    }
}

/// <summary>
/// A php-fpm master run by the worker, as the vhost's user, for one set of php_admin_value settings
/// (written into the pool's configuration, where PHP applies them as PHP_INI_SYSTEM: no script
/// and no php_value can change them). pm = ondemand: children start with the first requests and
/// leave when idle; the socket is in the user's 0700 directory; stdin is /dev/null and stdout and
/// stderr are read into the worker's log. Opcache lives in this master's shared memory, so no
/// other tenant's PHP can see this tenant's compiled scripts.
///
/// php-fpm keeps a PHP_VALUE it was sent for the rest of the child's life (it changes the
/// setting's master value), where mod_php applies php_value to one request only. So every request
/// also sends, for each setting an earlier request changed, its php.ini value back.
/// </summary>
public sealed class PhpFpmPool : IFastCgiPool
{
    private readonly string _phpFpm;
    private readonly int _maxChildren;
    private readonly string _dir;
    private readonly string _socket;
    private readonly string _probeSocket;
    private Task<PhpIniDefaults>? _defaults;
    private ChildProcess? _process;
    private volatile bool _disposed;
    private DateTime _startedAt;
    private readonly object _gate = new();
    private readonly Stack<(FastCgiConnection Conn, long At)> _idle = new();
    private readonly Queue<TaskCompletionSource<bool>> _waiting = new();
    private int _open;
    private readonly HashSet<string> _sent = new(StringComparer.Ordinal);

    /// <summary>A kept connection unused this long is closed instead of reused (fpm may have reaped its child).</summary>
    private const int IdleMs = 20_000;

    public int Pid => _process?.Pid ?? 0;

    /// <summary>True while the php-fpm master has not exited.</summary>
    public bool Running => _process is { HasExited: false };

    public PhpFpmPool(string phpFpm, int maxChildren, IReadOnlyList<KeyValuePair<string, string>> adminValues, string dir)
    {
        _phpFpm = phpFpm; _maxChildren = Math.Max(1, maxChildren); _dir = dir;
        if (Mono.Unix.Native.Syscall.mkdir(dir, Mono.Unix.Native.FilePermissions.S_IRWXU) != 0 && Mono.Unix.Native.Stdlib.GetLastError() != Mono.Unix.Native.Errno.EEXIST)
            throw new IOException($"mkdir {dir}: {Mono.Unix.Native.Stdlib.GetLastError()}");
        _socket = Path.Combine(dir, "fpm.sock");
        _probeSocket = Path.Combine(dir, "probe.sock");
        File.WriteAllText(Path.Combine(dir, "probe.php"), "<?php echo json_encode(ini_get_all(null, true));");
        var conf = new StringBuilder();
        conf.Append("; written by itkd for this worker; a pool of the site's own user\n");
        conf.Append("[global]\n");
        conf.Append($"pid = {dir}/php-fpm.pid\n");
        conf.Append("error_log = /proc/self/fd/2\nlog_level = warning\ndaemonize = no\nprocess_control_timeout = 10s\nsystemd_interval = 0\n");
        conf.Append("[itkd]\n");
        conf.Append($"listen = {_socket}\nlisten.mode = 0600\n");
        conf.Append($"pm = ondemand\npm.max_children = {_maxChildren}\npm.process_idle_timeout = 60s\npm.max_requests = 0\n");
        conf.Append("catch_workers_output = yes\ndecorate_workers_output = no\nclear_env = yes\n");
        // the worker decides what runs as PHP (SetHandler, AddHandler), as Apache does, not the file name
        conf.Append("security.limit_extensions =\n");
        foreach (var (k, v) in adminValues)
        {
            if (k.Any(c => char.IsWhiteSpace(c) || c is '[' or ']' or '=') || v.Contains('\n'))
                throw new ArgumentException($"php_admin_value {k}: the name or value cannot be written into a php-fpm pool");
            conf.Append($"php_admin_value[{k}] = {v}\n");
        }
        // A second pool of the same master that only ever answers one question, once: the php.ini
        // value and the access of every setting, as a fresh child of this PHP starts with them
        // (the php_admin_value above are not among them: they are never sent per request).
        conf.Append($"[probe]\nlisten = {_probeSocket}\nlisten.mode = 0600\npm = ondemand\npm.max_children = 1\npm.process_idle_timeout = 5s\nclear_env = yes\n");
        File.WriteAllText(Path.Combine(dir, "php-fpm.conf"), conf.ToString());
        Start();
        Log.Write(LogEvent.PhpStarted, $"php-fpm {_process!.Pid} ({_phpFpm}, pm ondemand, max {_maxChildren} children{(adminValues.Count > 0 ? ", " + adminValues.Count + " php_admin_value" : "")}), socket {_socket}");
    }

    private void Start()
    {
        try { File.Delete(_socket); } catch (IOException) { }
        // stdin /dev/null; php-fpm's own log (error_log = /proc/self/fd/2) and its children's
        // output (catch_workers_output) come through the stderr pipe into itkd's log, labelled.
        var p = ChildProcess.Start(_phpFpm, ["--nodaemonize", "--fpm-config", Path.Combine(_dir, "php-fpm.conf")],
            [new("PATH", "/usr/local/bin:/usr/bin:/bin")], "/", ChildStream.Null, ChildStream.Pipe, ChildStream.Pipe);
        _startedAt = DateTime.UtcNow;
        _process = p;
        foreach (var stream in new[] { p.StandardOutput!, p.StandardError! })
            _ = Task.Run(async () =>
            {
                using var reader = new StreamReader(stream);
                string? line;
                try { while ((line = await reader.ReadLineAsync()) is not null) if (line.Length > 0) Log.Write(LogEvent.PhpOutput, $"php-fpm {p.Pid}: {line}"); }
                catch (IOException) { }
            });
        p.Exited.ContinueWith(t => Exited(p, t.Result), TaskScheduler.Default);
    }

    private void Exited(ChildProcess p, ChildExit exit)
    {
        lock (_gate) { while (_idle.TryPop(out var i)) { i.Conn.Dispose(); _open--; } }
        EndSession(p.Pid);
        if (_disposed) return;
        bool quick = DateTime.UtcNow - _startedAt < TimeSpan.FromSeconds(2);
        Log.Write(quick ? LogEvent.PhpThrottled : LogEvent.PhpExited, $"php-fpm {p.Pid} exited ({exit}); starting it again{(quick ? " in 1 s" : "")}");
        _ = Task.Run(async () =>
        {
            if (quick) await Task.Delay(1000);
            if (_disposed) return;
            try { Start(); }
            catch (Exception e) { Log.Write(LogEvent.ScriptFailed, $"cannot start {_phpFpm}: {e.Message}"); }
        });
    }

    /// <summary>
    /// Ends what is left of a php-fpm master's session: php-fpm makes itself a session leader (its
    /// pid is the group of its children), so neither the worker's process group nor the master's
    /// death takes its children along. Only php-fpm processes of this user in that group are
    /// signalled. Run by the worker when its php-fpm died, and by the next worker of the user for
    /// what a killed one left (see <see cref="PhpCgiPool.PrivateDirectory"/>).
    /// </summary>
    internal static void EndSession(int group)
    {
        if (group <= 1) return;
        uint uid = Mono.Unix.Native.Syscall.getuid();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int close = stat.LastIndexOf(')');
                string comm = stat[(stat.IndexOf('(') + 1)..close];
                var f = stat[(close + 2)..].Split(' ');
                if (!comm.StartsWith("php-fpm", StringComparison.Ordinal) || !int.TryParse(f[2], out int pgrp) || pgrp != group) continue;
                if (Mono.Unix.Native.Syscall.stat(dir, out var st) != 0 || st.st_uid != uid) continue;
                Native.kill(pid, Native.SIGKILL);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// PHP_VALUE for one request: the php_value settings in effect, and the php.ini value of every
    /// setting an earlier request of this pool changed and this one does not. Settings PHP allows
    /// only in php.ini are left out (logged), as mod_php ignores them.
    /// </summary>
    public async ValueTask<string?> PhpValueAsync(IReadOnlyDictionary<string, string> settings, Action<string> refused, Action<string> log)
    {
        lock (_sent) if (settings.Count == 0 && _sent.Count == 0) return null; // nothing set, nothing to put back
        var defaults = await (_defaults ??= ProbeAsync(log));
        var sb = new StringBuilder();
        lock (_sent)
        {
            foreach (var (k, v) in settings)
            {
                if (!defaults.PerDirectory(k)) { refused(k); continue; }
                Line(sb, k, v);
                _sent.Add(k);
            }
            foreach (var k in _sent)
                if (!settings.ContainsKey(k)) Line(sb, k, defaults.Default(k) ?? "");
        }
        return sb.Length == 0 ? null : sb.ToString();

        static void Line(StringBuilder sb, string k, string v) =>
            sb.Append(k).Append("=\"").Append(v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("$", "\\$")).Append("\"\n");
    }

    /// <summary>Asks the probe pool for ini_get_all once; without an answer no php_value is applied (they are refused and logged).</summary>
    private async Task<PhpIniDefaults> ProbeAsync(Action<string> log)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            using var conn = await PhpCgiPool.ConnectAsync(_probeSocket, timeout.Token);
            string script = Path.Combine(_dir, "probe.php");
            var env = new List<KeyValuePair<string, string>>
            {
                new("GATEWAY_INTERFACE", "CGI/1.1"), new("REQUEST_METHOD", "GET"), new("SCRIPT_FILENAME", script),
                new("SCRIPT_NAME", "/probe.php"), new("REQUEST_URI", "/probe.php"), new("QUERY_STRING", ""), new("SERVER_PROTOCOL", "HTTP/1.1"),
            };
            var stdout = await conn.SendAsync(env, null, line => log($"php-fpm probe: {line}"), timeout.Token);
            using var ms = new MemoryStream();
            await stdout.CopyToAsync(ms, timeout.Token);
            string text = Encoding.UTF8.GetString(ms.ToArray());
            int body = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var defaults = PhpIniDefaults.Parse(body < 0 ? text : text[(body + 4)..]);
            return defaults;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or JsonException)
        {
            log($"php-fpm: cannot learn PHP's ini settings ({e.Message}); php_value settings are refused");
            _defaults = null; // ask again next time
            return PhpIniDefaults.Unknown;
        }
    }

    public async Task<FastCgiLease> RentAsync(CancellationToken ct)
    {
        while (true)
        {
            TaskCompletionSource<bool>? wait = null;
            FastCgiConnection? reuse = null;
            bool connect = false;
            lock (_gate)
            {
                long now = Environment.TickCount64;
                while (_idle.TryPop(out var i))
                {
                    if (now - i.At < IdleMs && i.Conn.Reusable) { reuse = i.Conn; break; }
                    i.Conn.Dispose(); _open--;
                }
                if (reuse is null)
                {
                    if (_open < _maxChildren) { _open++; connect = true; }
                    else { wait = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously); _waiting.Enqueue(wait); }
                }
            }
            if (reuse is not null) return new FastCgiLease(reuse, GiveBack) { Reused = true };
            if (connect)
            {
                try { return new FastCgiLease(await PhpCgiPool.ConnectAsync(_socket, ct), GiveBack); }
                catch
                {
                    Release();
                    throw;
                }
            }
            using (ct.Register(() => wait!.TrySetCanceled(ct))) await wait!.Task;
        }
    }

    private void GiveBack(FastCgiConnection c)
    {
        if (c.Reusable && !_disposed)
        {
            TaskCompletionSource<bool>? next;
            lock (_gate)
            {
                _idle.Push((c, Environment.TickCount64));
                _waiting.TryDequeue(out next);
            }
            next?.TrySetResult(true);
            return;
        }
        c.Dispose();
        Release();
    }

    private void Release()
    {
        TaskCompletionSource<bool>? next;
        lock (_gate)
        {
            _open--;
            _waiting.TryDequeue(out next);
        }
        next?.TrySetResult(true);
    }

    public void Dispose()
    {
        _disposed = true;
        lock (_gate) { while (_idle.TryPop(out var i)) i.Conn.Dispose(); }
        // SIGTERM: php-fpm ends at once and takes its children with it (the worker has no request left)
        _process?.Signal(Native.SIGTERM);
    }
}

using System.Collections.Concurrent;
using System.Net.Sockets;
using ItkPs.Server.Privileged;

namespace ItkPs.Server.Scripts;

/// <summary>Where FastCGI connections come from: the worker's own php-cgi children, or an existing socket (php-fpm).</summary>
public interface IFastCgiPool : IDisposable
{
    Task<FastCgiLease> RentAsync(CancellationToken ct);
}

/// <summary>A connection on loan; give it back with <see cref="Dispose"/> (it is kept only if the response was read to its end).</summary>
public sealed class FastCgiLease(FastCgiConnection connection, Action<FastCgiConnection> giveBack) : IDisposable
{
    public FastCgiConnection Connection { get; } = connection;
    /// <summary>A kept connection used before: its peer may have gone away since (a failed send is worth one retry).</summary>
    public bool Reused { get; init; }
    private int _done;
    public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) giveBack(Connection); }
}

/// <summary>
/// php-cgi processes started and supervised by a worker, so they run as the worker's (the
/// vhost's) user. Each child listens on its own socket in a private 0700 directory and serves
/// one connection at a time; the pool keeps one kept-alive connection per child and hands it to
/// one request at a time. A child that exits is started again (at most once a second when it
/// keeps dying); all of them end with the worker.
/// </summary>
public sealed class PhpCgiPool : IFastCgiPool
{
    private sealed class Child
    {
        public required int Index { get; init; }
        public required string Socket { get; init; }
        public ChildProcess? Process;
        public FastCgiConnection? Idle;
        public volatile bool Stale;
        public DateTime StartedAt;
    }

    private readonly string _phpCgi;
    private readonly DirectoryInfo _dir;
    private readonly Child[] _children;
    // Free children, and requests waiting for one. Hand-written instead of a SemaphoreSlim: its
    // waiters resume on the thread pool, one thread hop per PHP request under load; here the
    // request that gives a child back starts the next one on its own thread.
    private readonly object _gate = new();
    private readonly Stack<Child> _free = new();
    private readonly Queue<TaskCompletionSource<Child>> _waiting = new();
    private volatile bool _disposed;

    public PhpCgiPool(string phpCgi, int children)
    {
        _phpCgi = phpCgi;
        children = Math.Max(1, children);
        _dir = PrivateDirectory();
        _children = Enumerable.Range(0, children).Select(i => new Child { Index = i, Socket = Path.Combine(_dir.FullName, $"php-{i}.sock") }).ToArray();
        try { foreach (var c in _children) { Start(c); _free.Push(c); } }
        catch
        {
            Dispose(); // the children started so far, and the directory
            throw;
        }
        Log.Write(LogEvent.PhpStarted, $"{children} php-cgi child(ren) of {_phpCgi}, sockets in {_dir.FullName}");
    }

    public int[] Pids => _children.Select(c => c.Process?.Pid ?? 0).ToArray();

    /// <summary>
    /// The sockets' directory: 0700 and owned by this (the vhost's) user, so no other tenant can
    /// reach them; named by uid and pid, so that a later worker of the same user can remove what
    /// a killed one left (it runs as that user: no root in someone else's directory).
    /// </summary>
    internal static DirectoryInfo PrivateDirectory()
    {
        uint uid = Mono.Unix.Native.Syscall.getuid();
        string tmp = Path.GetTempPath();
        CleanStale();
        string mine = Path.Combine(tmp, $"itkd-php-{uid}-{Environment.ProcessId}");
        if (Mono.Unix.Native.Syscall.mkdir(mine, Mono.Unix.Native.FilePermissions.S_IRWXU) == 0) return new DirectoryInfo(mine);
        // Taken: ours from an earlier process with this pid (0700, a directory) is fine; else a random name.
        if (Mono.Unix.Native.Syscall.lstat(mine, out var own) == 0 && own.st_uid == uid
            && (own.st_mode & Mono.Unix.Native.FilePermissions.S_IFMT) == Mono.Unix.Native.FilePermissions.S_IFDIR
            && (own.st_mode & (Mono.Unix.Native.FilePermissions.S_IRWXG | Mono.Unix.Native.FilePermissions.S_IRWXO)) == 0)
            return new DirectoryInfo(mine);
        return Directory.CreateTempSubdirectory("itkd-php-");
    }

    /// <summary>
    /// Removes what workers of this user that were killed left behind: their socket directories,
    /// and the php-fpm sessions recorded in them (php-fpm leaves its worker's process group, so
    /// ending the group did not end it). Run by a worker at start and before it makes its own.
    /// </summary>
    internal static void CleanStale()
    {
        uint uid = Mono.Unix.Native.Syscall.getuid();
        string tmp = Path.GetTempPath();
        foreach (var stale in Directory.EnumerateDirectories(tmp, $"itkd-php-{uid}-*"))
        {
            if (!int.TryParse(stale[(stale.LastIndexOf('-') + 1)..], out int pid) || pid == Environment.ProcessId) continue;
            if (Mono.Unix.Native.Syscall.kill(pid, 0) == 0 || Mono.Unix.Native.Stdlib.GetLastError() != Mono.Unix.Native.Errno.ESRCH) continue; // alive
            if (Mono.Unix.Native.Syscall.lstat(stale, out var st) != 0 || st.st_uid != uid || (st.st_mode & Mono.Unix.Native.FilePermissions.S_IFMT) != Mono.Unix.Native.FilePermissions.S_IFDIR) continue;
            try
            {
                foreach (var pidFile in Directory.EnumerateFiles(stale, "php-fpm.pid", SearchOption.AllDirectories))
                    if (int.TryParse(File.ReadAllText(pidFile).Trim(), out int master)) PhpFpmPool.EndSession(master);
                Directory.Delete(stale, true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private void Start(Child c)
    {
        File.Delete(c.Socket);
        var env = new List<KeyValuePair<string, string>>
        {
            new("PATH", "/usr/local/bin:/usr/bin:/bin"),
            new("PHP_FCGI_CHILDREN", "0"),     // this process serves; the worker supervises
            new("PHP_FCGI_MAX_REQUESTS", "0"), // no planned restarts (a crash still restarts it)
        };
        // stdin /dev/null; what php-cgi prints (start-up warnings) goes to itkd's log, labelled.
        var p = ChildProcess.Start(_phpCgi, ["-b", c.Socket], env, "/", ChildStream.Null, ChildStream.Pipe, ChildStream.Pipe);
        c.StartedAt = DateTime.UtcNow;
        c.Process = p;
        foreach (var stream in new[] { p.StandardOutput!, p.StandardError! })
            _ = Task.Run(async () =>
            {
                using var reader = new StreamReader(stream);
                string? line;
                while ((line = await reader.ReadLineAsync()) is not null) Log.Write(LogEvent.PhpOutput, $"php-cgi {p.Pid}: {line}");
            });
        p.Exited.ContinueWith(t => Exited(c, p, t.Result), TaskScheduler.Default);
    }

    private void Exited(Child c, ChildProcess p, ChildExit exit)
    {
        c.Stale = true;
        if (_disposed) return;
        bool quick = DateTime.UtcNow - c.StartedAt < TimeSpan.FromSeconds(2);
        Log.Write(quick ? LogEvent.PhpThrottled : LogEvent.PhpExited, $"php-cgi {p.Pid} (child {c.Index}) exited ({exit}); starting it again{(quick ? " in 1 s" : "")}");
        _ = Task.Run(async () =>
        {
            if (quick) await Task.Delay(1000);
            if (_disposed) return;
            try { Start(c); }
            catch (Exception e) { Log.Write(LogEvent.ScriptFailed, $"cannot start {_phpCgi}: {e.Message}"); }
        });
    }

    private async Task<Child> TakeAsync(CancellationToken ct)
    {
        TaskCompletionSource<Child> waiter;
        lock (_gate)
        {
            if (_free.TryPop(out var c)) return c;
            waiter = new TaskCompletionSource<Child>(TaskCreationOptions.None);
            _waiting.Enqueue(waiter);
        }
        using (ct.Register(() => waiter.TrySetCanceled(ct)))
            return await waiter.Task;
    }

    private void GiveBack(Child c)
    {
        while (true)
        {
            TaskCompletionSource<Child>? next;
            lock (_gate)
            {
                if (!_waiting.TryDequeue(out next)) { _free.Push(c); return; }
            }
            if (next.TrySetResult(c)) return; // runs the waiting request here, outside the lock
        }
    }

    public async Task<FastCgiLease> RentAsync(CancellationToken ct)
    {
        var c = await TakeAsync(ct);
        try
        {
            var conn = c.Idle;
            c.Idle = null;
            if (conn is not null && c.Stale) { conn.Dispose(); conn = null; }
            if (conn is null)
            {
                c.Stale = false;
                conn = await ConnectAsync(c.Socket, ct);
            }
            return new FastCgiLease(conn, back =>
            {
                if (back.Reusable && !c.Stale && !_disposed) c.Idle = back; else back.Dispose();
                GiveBack(c);
            });
        }
        catch
        {
            GiveBack(c);
            throw;
        }
    }

    /// <summary>Connects, waiting (up to 10 s) for a child that is still starting or being restarted.</summary>
    internal static async Task<FastCgiConnection> ConnectAsync(string socket, CancellationToken ct)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try { return await FastCgiConnection.ConnectAsync(socket, keep: true, ct); }
            catch (SocketException) when (DateTime.UtcNow < until) // not there yet (ENOENT) or not listening yet
            {
                await Task.Delay(10, ct);
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var c in _children)
        {
            c.Idle?.Dispose();
            c.Process?.Signal(Native.SIGTERM);
        }
        try { _dir.Delete(true); } catch (IOException) { }
    }
}

/// <summary>
/// An existing FastCGI socket (php-fpm's): a connection per request, closed after it, as Apache's
/// mod_proxy_fcgi and nginx do by default. The pool's size is php-fpm's business, and a kept
/// connection would hold one of its children.
/// </summary>
public sealed class FastCgiSocketPool(string socket) : IFastCgiPool
{
    public async Task<FastCgiLease> RentAsync(CancellationToken ct) =>
        new(await FastCgiConnection.ConnectAsync(socket, keep: false, ct), c => c.Dispose());

    public void Dispose() { }
}

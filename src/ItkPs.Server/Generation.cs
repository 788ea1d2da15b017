using System.Collections.Concurrent;
using ItkPs.Core.Config;
using ItkPs.Server.Privileged;

namespace ItkPs.Server;

/// <summary>
/// One configuration as the master loaded it (at start or at a reload): the resolved snapshot, the
/// vhost logs opened for it, and its dispatcher. The logs are opened once here, as root, only where
/// nobody else can steer the path; every worker of the generation gets its descriptors at exec.
/// </summary>
public sealed class Generation : IDisposable
{
    /// <summary>The first descriptor number a worker's logs get (0–2 stdio, 3 snapshot, 4 channel).</summary>
    public const int FirstLogDescriptor = 5;

    public required int Number { get; init; }
    public required ServerConfig Config { get; init; }
    public required Snapshot Snapshot { get; init; }
    public byte[] DispatcherSnapshot(int incarnation)
    {
        var s = Snapshot.For(null, []);
        s.Incarnation = incarnation;
        return s.ToBytes();
    }
    public volatile DispatcherProcess? Dispatcher;
    /// <summary>Set when a reload replaced it or the master stops: its workers' exits are expected.</summary>
    public volatile bool Draining;

    private readonly object _gate = new();
    private readonly Dictionary<string, int> _logFds = new();
    private readonly ConcurrentDictionary<int, byte[]> _workerSnapshots = new();
    private bool _disposed;

    /// <summary>Run by the master (root) once per generation: opens every vhost log it may open itself.</summary>
    public void OpenLogs()
    {
        lock (_gate)
            for (int i = 0; i < Snapshot.VirtualHosts.Count; i++)
            {
                var vh = Snapshot.VirtualHosts[i];
                foreach (var (path, directive) in new[] { (vh.CustomLog, "CustomLog"), (vh.ErrorLog, "ErrorLog") })
                {
                    if (path is null || _logFds.ContainsKey(path)) continue;
                    int fd = RootFiles.OpenLog(path, out string? refused);
                    _logFds[path] = fd;
                    if (fd < 0)
                    {
                        var (file, line) = vh.Where(directive);
                        Log.Write(LogEvent.LogOpenedByUser, $"{file}:{line}: {directive} {path}: not opened as root ({refused}); the worker opens it as {vh.User}");
                    }
                }
            }
    }

    /// <summary>
    /// Runs <paramref name="spawn"/> with the log specs of a pool's vhosts and the master's
    /// descriptors to hand over (in order from <see cref="FirstLogDescriptor"/>), while nothing can
    /// close those descriptors: a reused number must never reach a worker.
    /// </summary>
    public T WithLogs<T>(int pool, Func<List<LogSpec>, List<int>, T> spawn)
    {
        var specs = new List<LogSpec>();
        var fds = new List<int>();
        var numbers = new Dictionary<string, int>();
        lock (_gate)
        {
            if (_disposed) throw new InvalidOperationException($"generation {Number} is over");
            foreach (var (index, vh) in Snapshot.VhostsOf(pool))
                foreach (var (path, error) in new[] { (vh.CustomLog, false), (vh.ErrorLog, true) })
                {
                    if (path is null) continue;
                    int fd = _logFds.GetValueOrDefault(path, -1);
                    int number = -1;
                    if (fd >= 0 && !numbers.TryGetValue(path, out number))
                    {
                        number = FirstLogDescriptor + fds.Count;
                        numbers[path] = number;
                        fds.Add(fd);
                    }
                    specs.Add(new LogSpec { Vhost = index, Error = error, Path = path, Fd = number });
                }
            return spawn(specs, fds);
        }
    }

    public byte[] WorkerSnapshot(int pool, List<LogSpec> logs) => _workerSnapshots.GetOrAdd(pool, _ => Snapshot.For(pool, logs).ToBytes());

    /// <summary>Closes the generation's log descriptors (its workers hold their own copies).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (int fd in _logFds.Values) if (fd >= 0) Native.close(fd);
            _logFds.Clear();
        }
    }
}

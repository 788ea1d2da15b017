using ItkPs.Core.Hosting;

namespace ItkPs;

/// <summary>A running itkd as its control socket describes it (Get-, Start-, Restart-ItkServer).</summary>
public sealed class ServerInfo
{
    internal ServerInfo(ServerStatus s)
    {
        Pid = s.Pid;
        DispatcherPid = s.DispatcherPid;
        ConfigFile = s.ConfigFile;
        ControlSocket = s.ControlSocket;
        Listeners = s.Listeners.ToArray();
        Started = s.Started;
        Uptime = s.Uptime;
        Generation = s.Generation;
        LastReloadAt = s.LastReloadAt;
        LastReloadOk = s.LastReloadOk;
        LastReloadMessage = s.LastReloadMessage;
        Pools = s.Pools.Select(p => new PoolInfo(p)).ToArray();
    }

    /// <summary>The master's pid (root); Stop-ItkServer signals it.</summary>
    public int Pid { get; }
    public int DispatcherPid { get; }
    /// <summary>The main configuration file it serves.</summary>
    public string ConfigFile { get; }
    /// <summary>The control socket it answers on (binds -ControlSocket of the other server cmdlets).</summary>
    public string ControlSocket { get; }
    public string[] Listeners { get; }
    public DateTime Started { get; }
    public TimeSpan Uptime { get; }
    /// <summary>1 at start, one more for each reload that took.</summary>
    public int Generation { get; }
    /// <summary>When the last reload was tried, whether it took, and why not.</summary>
    public DateTime? LastReloadAt { get; }
    public bool? LastReloadOk { get; }
    public string? LastReloadMessage { get; }
    /// <summary>One worker pool per (user, group) the server currently runs.</summary>
    public PoolInfo[] Pools { get; }

    public override string ToString() => $"itkd {Pid} ({ConfigFile})";
}

/// <summary>One worker pool of a running itkd: the processes serving one user's vhosts.</summary>
public sealed class PoolInfo
{
    internal PoolInfo(PoolStatus p)
    {
        User = p.User;
        Group = p.Group;
        Workers = p.Workers;
        WorkerPids = p.WorkerPids.ToArray();
        ActiveConnections = p.ActiveConnections;
        Connections = p.Connections;
        RequestsServed = p.RequestsServed;
        Spawned = p.Spawned;
        Crashes = p.Crashes;
        Throttled = p.Throttled;
    }

    public string User { get; }
    public string Group { get; }
    /// <summary>Workers running now, and their pids.</summary>
    public int Workers { get; }
    public int[] WorkerPids { get; }
    /// <summary>Connections the pool holds now.</summary>
    public long ActiveConnections { get; }
    /// <summary>Connections and requests served since the pool started.</summary>
    public long Connections { get; }
    public long RequestsServed { get; }
    /// <summary>Workers started and crashed since the server started.</summary>
    public int Spawned { get; }
    public int Crashes { get; }
    /// <summary>True while a crash loop holds the pool back.</summary>
    public bool Throttled { get; }

    public override string ToString() => $"{User}:{Group}";
}

using System.Text.Json;
using ItkPs.Core.Config;

namespace ItkPs.Server;

/// <summary>A Listen the master bound; the dispatcher gets the socket with the index of this entry.</summary>
public sealed class ListenSpec
{
    public string Address { get; set; } = "";
}

/// <summary>One (uid, gid) of the configuration: the identity a pool of workers runs as, resolved once by the master.</summary>
public sealed class PoolSpec
{
    public int Id { get; set; }
    public string User { get; set; } = "";
    public uint Uid { get; set; }
    public string Group { get; set; } = "";
    public uint Gid { get; set; }
    /// <summary>Seconds a worker of this pool may sit without connections before it is retired.</summary>
    public int IdleTimeoutSeconds { get; set; } = 30;
}

/// <summary>A log of one of a worker's vhosts: a descriptor the master opened, or a path the worker opens as its user.</summary>
public sealed class LogSpec
{
    public int Vhost { get; set; }
    public bool Error { get; set; }
    public string Path { get; set; } = "";
    /// <summary>The descriptor number in the worker, or -1: open <see cref="Path"/> as the user.</summary>
    public int Fd { get; set; } = -1;
}

/// <summary>
/// The validated configuration of one generation, as the master resolved it, in the form a role
/// needs it: the dispatcher gets the routing table (every vhost's addresses and names, its pool,
/// MaxClientsVHost), a worker gets its own vhosts whole and only the names of the others (enough to
/// answer 421 for them). It travels in a sealed memory file handed to the child as descriptor 3 at
/// exec: no path, so nothing on disk for anyone to replace, and no later edit of the configuration
/// files can make a new worker disagree with its dispatcher.
/// </summary>
public sealed class Snapshot
{
    public const int Descriptor = 3;

    public int Generation { get; set; }
    public string ConfigFile { get; set; } = "";
    public List<ListenSpec> Listens { get; set; } = new();
    public List<PoolSpec> Pools { get; set; } = new();
    public List<VirtualHost> VirtualHosts { get; set; } = new();
    /// <summary>The pool of each vhost, by index.</summary>
    public List<int> VhostPools { get; set; } = new();
    /// <summary>The dispatcher's own account (never a vhost's).</summary>
    public PoolSpec Dispatcher { get; set; } = new();
    /// <summary>
    /// Set in a dispatcher's snapshot: how many dispatchers the master started before this one.
    /// Connection ids carry it, so ids of a dead dispatcher (which adopted workers still hold)
    /// never meet ids of the next one.
    /// </summary>
    public int Incarnation { get; set; }
    /// <summary>Set in a worker's snapshot: the pool it serves.</summary>
    public int WorkerPool { get; set; } = -1;
    public List<LogSpec> Logs { get; set; } = new();
    public long UidMin { get; set; }
    public long UidMax { get; set; }
    public long GidMin { get; set; }
    public long GidMax { get; set; }
    public int HeaderTimeoutSeconds { get; set; }
    public int KeepAliveTimeoutSeconds { get; set; } = 5;
    /// <summary>Workers a pool starts with and may grow to (itkd --min-workers / --max-workers).</summary>
    public int MinWorkers { get; set; } = 1;
    public int MaxWorkers { get; set; } = 1;
    /// <summary>Per-request directives and sections outside any vhost (every vhost inherits them).</summary>
    public List<DirectiveRecord> ServerDirectives { get; set; } = new();
    public List<DirectoryBlock> ServerSections { get; set; } = new();
    /// <summary>Timeout: how long a script may stay silent.</summary>
    public int TimeoutSeconds { get; set; } = 60;
    /// <summary>The php-cgi program and how many of it each worker starts (itkd --php-cgi / --php-children).</summary>
    public string PhpCgi { get; set; } = "/usr/bin/php-cgi";
    public int PhpChildren { get; set; } = 4;

    public PoolSpec Pool(int id) => Pools.First(p => p.Id == id);

    /// <summary>The vhosts of one pool, with their indexes.</summary>
    public IEnumerable<(int Index, VirtualHost Vhost)> VhostsOf(int pool) =>
        VirtualHosts.Select((v, i) => (i, v)).Where(x => VhostPools[x.i] == pool);

    /// <summary>A copy for one role: the whole of <paramref name="keepWhole"/>'s vhosts, only the routing fields of the others.</summary>
    public Snapshot For(int? keepWhole, List<LogSpec> logs)
    {
        var copy = (Snapshot)MemberwiseClone();
        copy.WorkerPool = keepWhole ?? -1;
        copy.Logs = logs;
        copy.VirtualHosts = VirtualHosts.Select((v, i) => keepWhole == VhostPools[i] ? v : RoutingOnly(v)).ToList();
        if (keepWhole is null) { copy.ServerDirectives = new(); copy.ServerSections = new(); }
        return copy;
    }

    private static VirtualHost RoutingOnly(VirtualHost v) => new()
    {
        Addresses = v.Addresses, File = v.File, Line = v.Line, Name = v.Name, Aliases = v.Aliases,
        MaxClients = v.MaxClients, User = v.User, Group = v.Group,
    };

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, ServerJson.Default.Snapshot);

    /// <summary>Run by a child at start: reads its snapshot from descriptor 3 and closes it.</summary>
    public static Snapshot Receive()
    {
        var bytes = Privileged.SealedFile.ReadAndClose(Descriptor);
        return JsonSerializer.Deserialize(bytes, ServerJson.Default.Snapshot) ?? throw new InvalidDataException("empty snapshot");
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using ItkPs.Core.Config;

namespace ItkPs.Server;

/// <summary>
/// The validated configuration as the master read it, handed to the other roles in a
/// root-only file they read before dropping privileges. Every role of one generation works
/// from the same snapshot, so a later edit of the files (or a rejected reload) cannot make a
/// new worker disagree with its dispatcher.
/// </summary>
public sealed class Snapshot
{
    public int Generation { get; set; }
    public string ConfigFile { get; set; } = "";
    public List<string> Listens { get; set; } = new();
    public string User { get; set; } = "";
    public string Group { get; set; } = "";
    public long UidMin { get; set; }
    public long UidMax { get; set; }
    public long GidMin { get; set; }
    public long GidMax { get; set; }
    public int HeaderTimeoutSeconds { get; set; }
    /// <summary>Workers a pool starts with and may grow to (itkd --min-workers / --max-workers).</summary>
    public int MinWorkers { get; set; } = 1;
    public int MaxWorkers { get; set; } = 1;
    public List<VirtualHost> VirtualHosts { get; set; } = new();
    /// <summary>Per-request directives and sections outside any vhost (every vhost inherits them).</summary>
    public List<DirectiveRecord> ServerDirectives { get; set; } = new();
    public List<DirectoryBlock> ServerSections { get; set; } = new();
    /// <summary>Timeout: how long a script may stay silent.</summary>
    public int TimeoutSeconds { get; set; } = 60;
    /// <summary>The php-cgi program and how many of it each worker starts (itkd --php-cgi / --php-children).</summary>
    public string PhpCgi { get; set; } = "/usr/bin/php-cgi";
    public int PhpChildren { get; set; } = 4;

    public static Snapshot From(ServerConfig c, int generation, int minWorkers, int maxWorkers, string phpCgi = "/usr/bin/php-cgi", int phpChildren = 4) => new()
    {
        ServerDirectives = c.Directives, ServerSections = c.Directories, TimeoutSeconds = c.TimeoutSeconds,
        PhpCgi = phpCgi, PhpChildren = phpChildren,
        MinWorkers = minWorkers, MaxWorkers = maxWorkers,
        Generation = generation, ConfigFile = c.MainFile,
        Listens = c.Listens.Select(l => l.Address.ToString()).ToList(),
        User = c.User ?? "", Group = c.Group ?? "",
        UidMin = c.UidRange.Min, UidMax = c.UidRange.Max, GidMin = c.GidRange.Min, GidMax = c.GidRange.Max,
        HeaderTimeoutSeconds = c.HeaderTimeoutSeconds,
        VirtualHosts = c.VirtualHosts,
    };

    public string Save(string directory)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, $"snapshot-{Environment.ProcessId}-{Generation}.json");
        using (var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.None))
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            JsonSerializer.Serialize(fs, this, ServerJson.Default.Snapshot);
        }
        return path;
    }

    public static Snapshot Load(string path) =>
        JsonSerializer.Deserialize(File.ReadAllText(path), ServerJson.Default.Snapshot) ?? throw new InvalidDataException($"empty snapshot {path}");
}

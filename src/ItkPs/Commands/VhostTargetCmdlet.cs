using System.Management.Automation;
using ItkPs.Core.Config;

namespace ItkPs.Commands;

/// <summary>
/// Base of the cmdlets that act on existing vhosts: -Name (also by property name, so
/// Get-ItkVhost output and CSV rows bind) or -InputObject, one non-terminating error per
/// vhost that fails, the rest carry on.
/// </summary>
public abstract class VhostTargetCmdlet : ItkCmdlet
{
    /// <summary>The ServerName of each vhost to act on.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [Alias("ServerName")]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>Vhosts from Get-ItkVhost.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "InputObject", ValueFromPipeline = true)]
    public VhostInfo[] InputObject { get; set; } = [];

    /// <summary>
    /// The main configuration file to find the vhosts in. Get-ItkVhost output binds it, so piped
    /// vhosts are changed where they were read; -ConfigRoot wins when both are given.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [PSDefaultValue(Help = "the config root's itkps.conf")]
    public string? ConfigFile { get; set; }

    /// <summary>The configuration to act in: -ConfigRoot if given, else -ConfigFile, else the default root.</summary>
    private ServerConfig ReadConfig(string? configFile)
    {
        if (ConfigRoot is not null || configFile is null) return Root.Read();
        string file = ResolvePath(configFile);
        return File.Exists(file) ? new ConfigReader().Read(file) : new Core.Hosting.ConfigRoot(Path.GetDirectoryName(file)!).Read();
    }

    /// <summary>The targets, freshly read: an object from an earlier Get-ItkVhost may be stale.</summary>
    protected IEnumerable<VirtualHost> Targets()
    {
        var wanted = ParameterSetName == "InputObject"
            ? InputObject.Select(v => (v.Name, v.ConfigFile))
            : Name.Select(n => (n, ConfigFile));
        foreach (var group in wanted.GroupBy(w => w.Item2))
        {
            var config = ReadConfig(group.Key);
            foreach (var (name, _) in group)
                if (FindOne(config, name) is { } vh) yield return vh;
        }
    }

    /// <summary>The vhost as its file now says, for -PassThru.</summary>
    protected VhostInfo? Reread(VirtualHost vh) =>
        ReadConfig(vh.ConfigFile).VirtualHosts.FirstOrDefault(v => string.Equals(v.Name, vh.Name, StringComparison.OrdinalIgnoreCase)) is { } now
            ? new VhostInfo(now) : null;

    /// <summary>An editor on the vhost's section of its file; ConfigReadFailed (and null) when the file cannot be read as it was.</summary>
    protected VhostEditor? OpenEditor(VirtualHost vh)
    {
        try
        {
            return new VhostEditor(ConfigDocument.Load(vh.File), vh.Line);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            WriteError(Errors.Io(ErrorIds.ConfigReadFailed, write: false, vh.Name, $"Cannot read {vh.Name} from '{vh.File}': {e.Message}", e));
            return null;
        }
    }

    /// <summary>The ShouldProcess target of a vhost: its name and file.</summary>
    protected static string Target(VirtualHost vh) => $"{vh.Name} ({vh.File})";
}

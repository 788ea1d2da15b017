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
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(VhostNameCompleter))]
    [Alias("ServerName")]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = "InputObject", ValueFromPipeline = true)]
    public VirtualHost[] InputObject { get; set; } = [];

    /// <summary>
    /// The main configuration file to look the vhosts up in. Bound from Get-ItkVhost output
    /// (its ConfigFile property), so piped vhosts are changed where they were read.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
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
    protected VirtualHost? Reread(VirtualHost vh) =>
        ReadConfig(vh.ConfigFile).VirtualHosts.FirstOrDefault(v => string.Equals(v.Name, vh.Name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Edits the vhost's file in place (atomically, old file kept as .bak) after ShouldProcess.</summary>
    protected bool Edit(VirtualHost vh, string action, Action<VhostEditor> change)
    {
        VhostEditor editor;
        try
        {
            editor = new VhostEditor(ConfigDocument.Load(vh.File), vh.Line);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            WriteError(Error(ErrorIds.ConfigWriteFailed, ErrorCategory.ReadError, vh, e.Message, e));
            return false;
        }
        change(editor);
        if (!ShouldProcess($"{vh.Name} ({vh.File})", action)) return false;
        return TryWrite(vh.File, editor.ToText(), vh);
    }
}

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

    /// <summary>The targets, freshly read (an object from an earlier Get-ItkVhost may be stale).</summary>
    protected IEnumerable<VirtualHost> Targets()
    {
        var config = Root.Read();
        var names = ParameterSetName == "InputObject" ? InputObject.Select(v => v.Name) : Name;
        foreach (var n in names)
            if (FindOne(config, n) is { } vh) yield return vh;
    }

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

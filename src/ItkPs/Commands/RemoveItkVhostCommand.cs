using System.Management.Automation;
using ItkPs.Core.Config;

namespace ItkPs.Commands;

/// <summary>
/// Remove-ItkVhost: takes a vhost out of the configuration. A file that held only this vhost
/// is renamed to "&lt;file&gt;.bak" (nothing is deleted); otherwise the section is cut out of
/// the file and the old file kept as .bak.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "ItkVhost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Name")]
[OutputType(typeof(VirtualHost))]
public sealed class RemoveItkVhostCommand : VhostTargetCmdlet
{
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var vh in Targets())
        {
            try
            {
                var editor = new VhostEditor(ConfigDocument.Load(vh.File), vh.Line);
                if (!ShouldProcess($"{vh.Name} ({vh.File})", "Remove vhost")) continue;
                if (editor.FileHasOtherVhosts) { if (!TryWrite(vh.File, editor.TextWithoutVhost(), vh)) continue; }
                else AtomicFile.Retire(vh.File);
                if (PassThru) WriteObject(vh);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                WriteError(Error(ErrorIds.ConfigWriteFailed, ErrorCategory.WriteError, vh, $"Cannot remove {vh.Name} from '{vh.File}': {e.Message}", e));
            }
        }
    }
}

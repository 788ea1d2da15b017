using System.Management.Automation;
using ItkPs.Core.Config;

namespace ItkPs.Commands;

/// <summary>Removes virtual hosts from the configuration.</summary>
/// <remarks>
/// <para>A file that held only the vhost is renamed to &lt;file&gt;.bak, so nothing is lost; a file with other vhosts has the section cut out and the old file kept as .bak. Never touches the DocumentRoot or the user.</para>
/// <para>ConfirmImpact is High: PowerShell asks before each vhost unless -Confirm:$false is given (or $ConfirmPreference is None).</para>
/// </remarks>
/// <example>
/// <code>Remove-ItkVhost -Name old.example.com -Confirm:$false</code>
/// <para>Retires /etc/itkps/vhosts.d/old.example.com.conf to .bak.</para>
/// </example>
/// <example>
/// <code>Get-ItkVhost *.test | Remove-ItkVhost -WhatIf</code>
/// <para>Lists the vhosts the pattern would remove.</para>
/// </example>
/// <seealso cref="NewItkVhostCommand"/>
[Cmdlet(VerbsCommon.Remove, "ItkVhost", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Name")]
[OutputType(typeof(VhostInfo))]
public sealed class RemoveItkVhostCommand : VhostTargetCmdlet
{
    /// <summary>Writes the removed vhosts to the pipeline.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var vh in Targets())
        {
            if (OpenEditor(vh) is not { } editor) continue;
            // Outside any try: a prompt that cannot be shown (-NonInteractive) fails as PowerShell reports it.
            if (!ShouldProcess(Target(vh), "Remove vhost")) continue;
            if (editor.FileHasOtherVhosts)
            {
                if (!TryWrite(vh.File, editor.TextWithoutVhost(), vh.Name)) continue;
            }
            else
            {
                try { AtomicFile.Retire(vh.File); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    WriteError(Errors.Io(ErrorIds.ConfigWriteFailed, write: true, vh.Name, $"Cannot retire '{vh.File}' to .bak: {e.Message}", e));
                    continue;
                }
            }
            if (PassThru) WriteObject(new VhostInfo(vh));
        }
    }
}

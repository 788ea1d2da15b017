using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>Enable-/Disable-ItkHttpd: plan the file edits in Core, show or apply them here.</summary>
public abstract class HttpdSwitchCmdlet : PSCmdlet
{
    /// <summary>The root of the host's file system (tests and chroots use another).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Root { get; set; } = "/";

    protected abstract IReadOnlyList<FileEdit> Plan(string root);

    protected override void EndProcessing()
    {
        string root = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Root);
        if (!Directory.Exists(root))
            ThrowTerminatingError(new ErrorRecord(new DirectoryNotFoundException($"-Root '{root}' does not exist."), "RootNotFound", ErrorCategory.ObjectNotFound, root));
        foreach (var edit in Plan(root))
        {
            if (!edit.Changed) WriteVerbose($"{edit.Path}: already done ({edit.Description}).");
            else if (ShouldProcess(edit.Path, $"{edit.Description}{Environment.NewLine}{edit.Diff}"))
            {
                try { AtomicFile.Write(edit.Path, edit.Text); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    WriteError(new ErrorRecord(e, "ConfigWriteFailed", ErrorCategory.WriteError, edit.Path));
                    continue;
                }
            }
            WriteObject(edit);
        }
    }
}

/// <summary>Enable-ItkHttpd: switch the host to httpd.itk (sysconfig and php.conf), with backups.</summary>
[Cmdlet(VerbsLifecycle.Enable, "ItkHttpd", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FileEdit))]
public sealed class EnableItkHttpdCommand : HttpdSwitchCmdlet
{
    protected override IReadOnlyList<FileEdit> Plan(string root) => HttpdSwitch.Enable(root);
}

/// <summary>Disable-ItkHttpd: undo Enable-ItkHttpd.</summary>
[Cmdlet(VerbsLifecycle.Disable, "ItkHttpd", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FileEdit))]
public sealed class DisableItkHttpdCommand : HttpdSwitchCmdlet
{
    protected override IReadOnlyList<FileEdit> Plan(string root) => HttpdSwitch.Disable(root);
}

using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>Enable-/Disable-ItkHttpd: plan the file edits in Core, show or apply them here.</summary>
public abstract class HttpdSwitchCmdlet : PSCmdlet
{
    /// <summary>The root of the file system to edit (tests and chroots use another).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Root { get; set; } = "/";

    protected abstract IReadOnlyList<FileEdit> Plan(string root);

    protected override void EndProcessing()
    {
        string root = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Root);
        if (!Directory.Exists(root))
            ThrowTerminatingError(Errors.DirectoryNotFound(ErrorIds.RootNotFound, root, $"-Root '{root}' does not exist."));
        foreach (var edit in Plan(root))
        {
            if (!edit.Changed)
            {
                WriteVerbose($"{edit.Path}: already done ({edit.Description}).");
                continue;
            }
            if (!ShouldProcess(edit.Path, $"{edit.Description}{Environment.NewLine}{edit.Diff}")) continue;
            try { AtomicFile.Write(edit.Path, edit.Text); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(Errors.Io(ErrorIds.ConfigWriteFailed, write: true, edit.Path, $"Cannot write '{edit.Path}': {e.Message}", e));
                continue;
            }
            WriteObject(new FileEditInfo(edit));
        }
    }
}

/// <summary>Switches an RPM host to httpd.itk: HTTPD=/usr/sbin/httpd.itk and mod_php loading under itk.</summary>
/// <remarks>
/// <para>Sets HTTPD=/usr/sbin/httpd.itk in /etc/sysconfig/httpd (an active HTTPD line is kept, commented, for Disable-ItkHttpd) and turns the &lt;IfModule prefork.c&gt; that loads libphp in /etc/httpd/conf.d/php.conf into &lt;IfModule !worker.c&gt;, so mod_php loads under itk as under prefork.</para>
/// <para>Files are written atomically with the old version kept as .bak. Idempotent: a file already switched is left alone (-Verbose says so). -WhatIf shows the diffs. Writes one object per file changed, with its diff.</para>
/// </remarks>
/// <example>
/// <code>Enable-ItkHttpd -WhatIf</code>
/// <para>Shows the two diffs.</para>
/// </example>
/// <example>
/// <code>Enable-ItkHttpd; service httpd restart</code>
/// <para>Switches the host and restarts Apache.</para>
/// </example>
/// <seealso cref="DisableItkHttpdCommand"/>
/// <seealso cref="BuildItkRpmCommand"/>
[Cmdlet(VerbsLifecycle.Enable, "ItkHttpd", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FileEditInfo))]
public sealed class EnableItkHttpdCommand : HttpdSwitchCmdlet
{
    protected override IReadOnlyList<FileEdit> Plan(string root) => HttpdSwitch.Enable(root);
}

/// <summary>Undoes Enable-ItkHttpd.</summary>
/// <remarks>
/// <para>Removes HTTPD=/usr/sbin/httpd.itk from /etc/sysconfig/httpd (bringing back a line Enable-ItkHttpd had commented) and turns php.conf's &lt;IfModule !worker.c&gt; around libphp back into &lt;IfModule prefork.c&gt;. Atomic writes with .bak backups; idempotent; -WhatIf shows the diffs.</para>
/// </remarks>
/// <example>
/// <code>Disable-ItkHttpd -Root /mnt/oldhost</code>
/// <para>Reverts a host mounted elsewhere.</para>
/// </example>
/// <seealso cref="EnableItkHttpdCommand"/>
[Cmdlet(VerbsLifecycle.Disable, "ItkHttpd", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FileEditInfo))]
public sealed class DisableItkHttpdCommand : HttpdSwitchCmdlet
{
    protected override IReadOnlyList<FileEdit> Plan(string root) => HttpdSwitch.Disable(root);
}

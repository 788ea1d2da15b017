using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>Applies the mpm-itk recipe to an httpd.spec: ITK patch series, httpd-itk subpackage, build, install, check and files.</summary>
/// <remarks>
/// <para>Makes the eight edits of the classic recipe, each found by the structure of the spec (the last PatchN: tag; the mod_ssl subpackage or %prep; the last %patch line in %prep; the mpmbuild worker call; the alternative-MPM installs; the %check loop; the main %files; %files -n mod_ssl), never by line numbers. The ITK patches are applied to a copy of the distribution's own prefork, so its security fixes are kept.</para>
/// <para>Already-made edits are skipped, so running it twice changes nothing. A missing anchor is an error (SpecAnchorMissing) naming the anchor and the nearest line, and nothing is written. -WhatIf shows the unified diff in its What-if line and writes nothing; otherwise the result (edits applied, edits already there, the diff) is written to the pipeline. A spec that already has every edit is left alone and only -Verbose says so.</para>
/// </remarks>
/// <example>
/// <code>Edit-ItkSpec -Path ~/rpmbuild/SPECS/httpd.spec -WhatIf</code>
/// <para>Shows the unified diff of the edits without writing.</para>
/// </example>
/// <example>
/// <code>(Edit-ItkSpec httpd.spec -OutFile httpd-itk.spec).Applied</code>
/// <para>Writes the edited spec beside the original and lists the edits made.</para>
/// </example>
/// <seealso cref="BuildItkRpmCommand"/>
[Cmdlet(VerbsData.Edit, "ItkSpec", SupportsShouldProcess = true)]
[OutputType(typeof(SpecEditInfo))]
public sealed class EditItkSpecCommand : SpecCmdlet
{
    /// <summary>The httpd.spec to edit. Replaced in place (the old one kept as .bak) unless -OutFile is given.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "SpecPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Write the edited spec here instead of replacing -Path.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "-Path itself")]
    public string? OutFile { get; set; }

    protected override void ProcessRecord()
    {
        string path = ResolvePath(Path);
        if (!File.Exists(path))
        {
            WriteError(Errors.FileNotFound(ErrorIds.SpecNotFound, path, $"Spec '{path}' does not exist."));
            return;
        }
        SpecEditResult result;
        try { result = Editor.Edit(File.ReadAllText(path), path); }
        catch (SpecAnchorException e)
        {
            WriteError(Errors.Failed(ErrorIds.SpecAnchorMissing, ErrorCategory.ObjectNotFound, path, e));
            return;
        }
        string target = OutFile is null ? path : ResolvePath(OutFile);
        if (result.AlreadyEdited)
        {
            WriteVerbose($"{path} already has every mpm-itk edit; nothing to change.");
            if (target == path) return; // nothing changed, so nothing to report
            if (!ShouldProcess(target, "Write the (unchanged) spec")) return;
        }
        else if (!ShouldProcess(target, $"Apply {result.Applied.Count} mpm-itk edit(s):{Environment.NewLine}{result.Diff}")) return;
        try { AtomicFile.Write(target, result.Text); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Errors.Io(ErrorIds.ConfigWriteFailed, write: true, target, $"Cannot write '{target}': {e.Message}", e));
            return;
        }
        WriteObject(new SpecEditInfo(result, target));
    }
}

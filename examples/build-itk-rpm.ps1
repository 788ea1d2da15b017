#requires -Version 7.4
<#
.SYNOPSIS
    The mpm-itk RPM recipe as a runbook: edit httpd.spec, build httpd + httpd-itk with
    rpmbuild, install httpd-itk, switch the host to httpd.itk and check its configuration.
.DESCRIPTION
    1. Shows the spec edits (Edit-ItkSpec -WhatIf) so the operator sees what changes.
    2. Builds with Build-ItkRpm under a private _topdir, keeping the %dist tag.
    3. With -Install: rpm -Uvh the httpd-itk RPM (and httpd of the same build).
    4. With -Enable: Enable-ItkHttpd (HTTPD=/usr/sbin/httpd.itk, php.conf), then httpd.itk -t.
    Stop after step 2 on a build host; run 3 and 4 on the web server.
.EXAMPLE
    ./build-itk-rpm.ps1 -SourceRpm httpd-2.2.3-91.el5.centos.src.rpm -ItkPatchPath ./apache2.2-mpm-itk-2.2.17-01 -Install -Enable
.EXAMPLE
    ./build-itk-rpm.ps1 -SourceRpm httpd-2.2.15-69.el6.centos.src.rpm -ItkPatchPath ./apache2.2-mpm-itk-2.2.17-01 -Dist .el6.centos
    CentOS 6: the spec builds its extra MPMs in loops over %{mpms}; itk is added to that macro.
.EXAMPLE
    ./build-itk-rpm.ps1 -SpecPath ./httpd/httpd.spec -ItkPatchPath ./itk-patches -NoDeps -OutDir ./rpms
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory, ParameterSetName = 'Spec')] [string] $SpecPath,
    [Parameter(Mandatory, ParameterSetName = 'SourceRpm')] [string] $SourceRpm,
    [Parameter(Mandatory)] [string] $ItkPatchPath,
    # Builds without /etc/rpm/macros.disttag lose the tag; keep it explicitly (CentOS 6: .el6.centos).
    [string] $Dist = '.el5.centos',
    [string] $OutDir = (Join-Path (Get-Location) 'itk-rpms'),
    [switch] $NoDeps,
    [switch] $Install,
    [switch] $Enable
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module ItkPs)) { Import-Module ItkPs }

$topDir = Join-Path ([IO.Path]::GetTempPath()) "itk-rpmbuild-$PID"
$build = @{ ItkPatchPath = $ItkPatchPath; TopDir = $topDir; NoDeps = $NoDeps }
if ($Dist) { $build.Define = @{ dist = $Dist } }
if ($PSCmdlet.ParameterSetName -eq 'Spec') {
    Write-Host '== Spec edits (Edit-ItkSpec -WhatIf: the diff, or -Verbose says the spec already has them, and where prefork was found)'
    Edit-ItkSpec -Path $SpecPath -WhatIf -Verbose
    $build.SpecPath = $SpecPath
} else {
    $build.SourceRpm = $SourceRpm
}

Write-Host '== rpmbuild -bb'
$rpms = @(Build-ItkRpm @build)
if ($rpms.Count -eq 0) { throw 'rpmbuild wrote no RPM.' }
New-Item -ItemType Directory -Force $OutDir | Out-Null
$rpms = $rpms | ForEach-Object { Copy-Item $_ $OutDir -PassThru }
$rpms | Format-Table Name, Length | Out-Host
$itk = $rpms | Where-Object Name -like 'httpd-itk-*'
Write-Host "httpd-itk contains: $((rpm -qlp $itk.FullName) -join ' ')"

if ($Install -and $PSCmdlet.ShouldProcess(($rpms.Name -join ', '), 'rpm -Uvh')) {
    rpm -Uvh --replacepkgs ($rpms | Where-Object Name -match '^httpd-(itk-)?\d').FullName
    if ($LASTEXITCODE) { throw "rpm -Uvh failed ($LASTEXITCODE)" }
}
if ($Enable) {
    Enable-ItkHttpd | Format-Table Path, Description | Out-Host
    if (Test-Path /usr/sbin/httpd.itk) { /usr/sbin/httpd.itk -t }
}
Remove-Item -Recurse -Force $topDir -ErrorAction SilentlyContinue
$rpms

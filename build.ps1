#requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, demonstrates and packages ItkPs.
.DESCRIPTION
    Build    compiles the solution and stages an importable module folder at out/ItkPs
             (psd1, dlls, native libMono.Unix.so, format and help files).
    Test     Build, then every xunit project and every Pester test (Pester in a child pwsh);
             ends with one line "N passed, N failed" and exits non-zero on any failure.
    Demo     provisions the example customers (users, docroots, vhosts) and serves them with
             itkd on 127.0.0.1:8080 until Ctrl+C (or -Seconds), then removes what it created.
    Bench    itkd against Apache + mpm-itk on the same files (../shared/bench/compare.sh),
             RSS with two busy users, the first request to a cold pool, the PHP hello page
             against Apache + mpm-itk + mod_php and nginx + php-fpm (bench/php-bench.sh), the
             cost of a tenant with 10/100/500/1000 tenants (bench/tenants.sh), slow or idle
             clients against one tenant while another is measured (bench/slowloris.sh),
             HTTPS/HTTP/2 against nginx and Apache + mpm-itk + mod_ssl (bench/tls-bench.sh), and what
             .htaccess costs: AllowOverride None against All, and WordPress through its
             permalinks, for both servers (bench/htaccess-bench.sh).
    Package  publishes the staged module with Publish-PSResource to the folder repository
             out/repository (out/repository/ItkPs.<version>.nupkg), ready for Install-PSResource.
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Bench', 'Package')]
    [string] $Task = 'Build',
    # Demo: seconds to serve before cleaning up; 0 serves until Ctrl+C.
    [int] $Seconds = 0,
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleOut = Join-Path $Out 'ItkPs'
$PesterVersion = '5.7.1'

function Get-ItkVersion {
    ([xml](Get-Content -Raw (Join-Path $Root 'Directory.Build.props'))).Project.PropertyGroup.VersionPrefix | Where-Object { $_ } | Select-Object -First 1
}

function Invoke-Native([string] $Program, [string[]] $Arguments) {
    & $Program @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "$Program $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-Build {
    Invoke-Native dotnet @('build', (Join-Path $Root 'ItkPs.sln'), '-c', $Configuration, '-nologo', '-v', 'q', '-clp:NoSummary')
    $bin = Join-Path $Root "src/ItkPs/bin/$Configuration/net10.0"
    if (Test-Path $ModuleOut) { Remove-Item -Recurse -Force $ModuleOut }
    New-Item -ItemType Directory -Force (Join-Path $ModuleOut 'en-US') | Out-Null
    Copy-Item (Join-Path $bin 'ItkPs.dll'), (Join-Path $bin 'ItkPs.Core.dll'), (Join-Path $bin 'Mono.Unix.dll'), (Join-Path $bin 'DiffPlex.dll') $ModuleOut
    # Mono.Unix P/Invokes libMono.Unix; .NET looks for it beside the calling assembly.
    Copy-Item (Join-Path $bin 'runtimes/linux-x64/native/libMono.Unix.so') $ModuleOut
    Copy-Item (Join-Path $Root 'module/ItkPs.Format.ps1xml') $ModuleOut
    # itkd beside the module (Start-ItkServer finds it there), in a folder of its own,
    # published ahead of time (NativeAOT): fast worker start, small processes.
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src/ItkPs.Server/ItkPs.Server.csproj'), '-c', $Configuration, '-r', 'linux-x64', '-o', (Join-Path $ModuleOut 'itkd'), '-nologo', '-v', 'q')
    # The same program once more for the workers (src/ItkPs.Server/Privileged/WorkerImage.cs):
    # linked at a fixed address and not dehydrated, so its type data stays file pages every worker
    # shares instead of ~3.7 MB made private in each; its own intermediate folder keeps both builds
    # incremental.
    $workerOut = Join-Path $Root 'out/worker-image'
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src/ItkPs.Server/ItkPs.Server.csproj'), '-c', $Configuration, '-r', 'linux-x64', '-o', $workerOut, '-nologo', '-v', 'q',
        '-p:IlcDehydrate=false', '-p:PositionIndependentExecutable=false', '-p:IntermediateOutputPath=obj/worker-image/')
    Copy-Item (Join-Path $workerOut 'itkd') (Join-Path $ModuleOut 'itkd/itkd-worker')
    Remove-Item (Join-Path $ModuleOut 'itkd/*.dbg'), (Join-Path $ModuleOut 'itkd/*.pdb'), (Join-Path $ModuleOut 'itkd/*.xml') -ErrorAction SilentlyContinue
    $manifest = Get-Content -Raw (Join-Path $Root 'module/ItkPs.psd1')
    $manifest = $manifest -replace "ModuleVersion\s*=\s*'0\.0\.0'", "ModuleVersion        = '$(Get-ItkVersion)'"
    Set-Content -Path (Join-Path $ModuleOut 'ItkPs.psd1') -Value $manifest -NoNewline
    # Help from its one source, the cmdlets' /// comments and parameters, in a pwsh of its own
    # (it imports the staged module).
    Invoke-Native (Join-Path $PSHOME 'pwsh') @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Root 'tools/Write-ItkHelp.ps1'),
        '-ModulePath', (Join-Path $ModuleOut 'ItkPs.psd1'), '-DocFile', (Join-Path $bin 'ItkPs.xml'), '-OutFile', (Join-Path $ModuleOut 'en-US/ItkPs.dll-Help.xml'))
    Write-Host "Module staged at $ModuleOut (version $(Get-ItkVersion))"
}

function Get-Pester {
    $path = Join-Path $Out "tools/pester/$PesterVersion/tools/Pester.psd1"
    if (-not (Test-Path $path)) {
        # Pester from NuGet (not PSGallery): the package carries the module under tools/.
        Invoke-Native dotnet @('package', 'download', "Pester@$PesterVersion", '-o', (Join-Path $Out 'tools'))
    }
    $path
}

function Install-Prerequisites([string[]] $Extra = @()) {
    # apache2 + mpm-itk, rpm, php-cgi, php-fpm, wrk: the real components the tests compare against.
    Invoke-Native bash (@((Join-Path $Root '.ci/install-packages.sh')) + $Extra)
}

function Invoke-Test {
    Install-Prerequisites
    Invoke-Build
    $results = Join-Path $Out 'test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    New-Item -ItemType Directory -Force $results | Out-Null
    $passed = 0; $failed = 0
    $failures = [Collections.Generic.List[string]]::new()

    foreach ($project in Get-ChildItem (Join-Path $Root 'tests') -Recurse -Filter '*.Tests.csproj') {
        $trx = "$($project.BaseName).trx"
        & dotnet test $project.FullName -c $Configuration --no-build -nologo --logger "trx;LogFileName=$trx" --logger 'console;verbosity=normal' --results-directory $results
        $file = Join-Path $results $trx
        if (-not (Test-Path $file)) { Write-Host "$($project.BaseName): no result file"; $failed++; continue }
        $run = ([xml](Get-Content -Raw $file)).TestRun
        $counters = $run.ResultSummary.Counters
        foreach ($r in @($run.Results.UnitTestResult)) {
            if ($r -and $r.outcome -ne 'Passed') { $failures.Add("$($project.BaseName): $($r.testName): $((([string]$r.Output.ErrorInfo.Message) -split "`n")[0])") }
        }
        $passed += [int]$counters.passed
        $failed += [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted
    }

    $pester = Get-Pester
    $pesterResult = Join-Path $results 'pester.json'
    $env:ITKPS_MODULE_PATH = Join-Path $ModuleOut 'ItkPs.psd1'
    & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File (Join-Path $Root 'tests/pester/Invoke-PesterSuite.ps1') `
        -PesterPath $pester -TestPath (Join-Path $Root 'tests/pester') -ResultPath $pesterResult
    if (Test-Path $pesterResult) {
        $p = Get-Content -Raw $pesterResult | ConvertFrom-Json
        $passed += $p.Passed; $failed += $p.Failed
        foreach ($f in @($p.Failures)) { if ($f) { $failures.Add("Pester: $f") } }
    } else { Write-Host 'Pester: no result file'; $failed++ }

    if ($failures.Count -gt 0) {
        Write-Host 'Failed:'
        foreach ($f in $failures) { Write-Host "  $f" }
    }
    Write-Host "$passed passed, $failed failed"
    if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
}

function Invoke-Demo {
    Install-Prerequisites
    Invoke-Build
    Import-Module (Join-Path $ModuleOut 'ItkPs.psd1') -Force
    $demoRoot = Join-Path ([IO.Path]::GetTempPath()) "itkps-demo-$PID"
    $runbook = Join-Path $Root 'examples/provision-shared-host.ps1'
    $customers = Import-Csv (Join-Path $Root 'examples/customers.csv')
    $site = @{ ConfigRoot = $demoRoot; WebRoot = (Join-Path $demoRoot 'www'); Customers = $customers }
    $listen = '127.0.0.1:8080'
    $sock = Join-Path $demoRoot 'itkd.sock'
    try {
        New-Item -ItemType Directory -Force $demoRoot | Out-Null
        chmod 0755 $demoRoot
        Write-Host "Provisioning $($customers.Count) customers into $demoRoot (users, docroots, vhosts, permissions):"
        & $runbook @site -Listen $listen | Format-Table Name, User, @{ n = 'Changes'; e = { $_.Changes -join ', ' } } | Out-Host
        Get-ItkVhost -ConfigRoot $demoRoot | Format-Table Name, Listen, User, Group, Aliases | Out-Host
        Write-Host "Test-ItkConfig: $(@(Test-ItkConfig -ConfigRoot $demoRoot).Count) finding(s); Test-ItkVhost: $(@(Test-ItkVhost -ConfigRoot $demoRoot).Count) finding(s)"
        $server = Start-ItkServer -ConfigRoot $demoRoot -ControlSocket $sock -LogPath (Join-Path $demoRoot 'itkd.log') -PassThru
        Write-Host "`nitkd $($server.Pid) is serving them on $listen. Try:"
        foreach ($c in $customers) { Write-Host "    curl -H 'Host: $($c.Name)' http://$listen/" }
        foreach ($c in $customers | Where-Object Php -eq 'FastCgi') { Write-Host "    curl -H 'Host: $($c.Name)' http://$listen/whoami.php        # PHP (php-cgi) as $($c.User)" }
        Write-Host "    curl -H 'Host: $($customers[0].Name)' http://$listen/.htpasswd      # 403: .ht* files are never served"
        Write-Host "    ps -eo user,args | grep 'itkd:'                                   # master as root, dispatcher, one worker per user"
        Write-Host "    Get-ItkServer -ControlSocket $sock"
        Write-Host "`nCtrl+C stops the server and removes the demo users and files."
        $end = if ($Seconds -gt 0) { (Get-Date).AddSeconds($Seconds) } else { [DateTime]::MaxValue }
        while ((Get-Date) -lt $end) { Start-Sleep -Milliseconds 500 }
    } finally {
        if (Test-Path $sock) { Stop-ItkServer -ControlSocket $sock -Confirm:$false -ErrorAction SilentlyContinue }
        & $runbook @site -Remove | Out-Null
        Remove-Item -Recurse -Force $demoRoot -ErrorAction SilentlyContinue
        Write-Host "Stopped itkd and removed the demo users, docroots and $demoRoot."
    }
}

function Invoke-Bench {
    # the PHP comparison also needs Apache's mod_php and nginx
    Install-Prerequisites @('libapache2-mod-php', 'nginx-light', 'slowhttptest')
    Invoke-Build
    & bash (Join-Path $Root 'bench/bench.sh') (Join-Path $ModuleOut 'itkd/itkd')
    if ($LASTEXITCODE -ne 0) { throw "bench failed ($LASTEXITCODE)" }
    & bash (Join-Path $Root 'bench/php-bench.sh') (Join-Path $ModuleOut 'itkd/itkd')
    if ($LASTEXITCODE -ne 0) { throw "PHP bench failed ($LASTEXITCODE)" }
    & bash (Join-Path $Root 'bench/tenants.sh') (Join-Path $ModuleOut 'itkd/itkd') '10 100 500 1000'
    if ($LASTEXITCODE -ne 0) { throw "tenants bench failed ($LASTEXITCODE)" }
    & bash (Join-Path $Root 'bench/slowloris.sh') (Join-Path $ModuleOut 'itkd/itkd')
    if ($LASTEXITCODE -ne 0) { throw "slowloris bench failed ($LASTEXITCODE)" }
    # HTTPS and HTTP/2: handshakes, keep-alive over TLS and h2 against nginx and Apache + mod_ssl
    & bash (Join-Path $Root 'bench/tls-bench.sh') (Join-Path $ModuleOut 'itkd/itkd')
    if ($LASTEXITCODE -ne 0) { throw "TLS bench failed ($LASTEXITCODE)" }
    & bash (Join-Path $Root 'bench/htaccess-bench.sh') (Join-Path $ModuleOut 'itkd/itkd')
    if ($LASTEXITCODE -ne 0) { throw ".htaccess bench failed ($LASTEXITCODE)" }
}

function Invoke-Package {
    Invoke-Build
    # Publish-PSResource packs the staged module from its manifest into a folder repository.
    $repository = Join-Path $Out 'repository'
    if (Test-Path $repository) { Remove-Item -Recurse -Force $repository }
    $nupkg = & (Join-Path $Root 'tools/Publish-ItkModule.ps1') -ModulePath $ModuleOut -RepositoryPath $repository
    Write-Host "Published $($nupkg.Name) to the folder repository $repository"
    Write-Host "Install it with: Register-PSResourceRepository -Name ItkPsLocal -Uri $repository -Trusted; Install-PSResource -Name ItkPs -Repository ItkPsLocal"
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
    'Package' { Invoke-Package }
}

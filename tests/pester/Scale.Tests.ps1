# Many tenants at once (200), each with a live worker of its own user: start, status, reload and stop
# stay whole. Real users (itkn-0001…), one vhost file each, loopback only.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    # 200 in CI; ITKPS_SCALE_TENANTS=1000 runs the same scenario with a thousand (about 5 minutes)
    $script:Tenants = [int]($env:ITKPS_SCALE_TENANTS ?? 200)
    $script:Port = 18320
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Sock = Join-Path $Base 'itkd.sock'
    $script:LogFile = Join-Path $Base 'itkd.log'
    $script:Names = 1..$Tenants | ForEach-Object { 'itkn-{0:d4}' -f $_ }
    foreach ($n in $Names) {
        New-TestUser $n -Customer
        $d = Join-Path $Base "www/$n"
        New-Item -ItemType Directory -Force $d | Out-Null
        Set-Content "$d/index.html" "site of $n"
        chown -R "$($n):$n" $d; chmod 0750 $d
        New-ItkVhost -ConfigRoot $Root -Name "$n.test" -DocumentRoot $d -Listen "127.0.0.1:$Port" -User $n -WarningAction SilentlyContinue
    }
    chmod 0755 (Join-Path $Base 'www')
    # Every worker stays live for the whole file: asking a thousand sites one by one takes longer
    # than the default 30 s after which an idle worker is retired.
    $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -WorkerIdleTimeoutSeconds 3600 -PassThru

    function script:Test-AllServed {
        $bad = foreach ($n in $Names) {
            $body = (& curl -s --max-time 10 -H "Host: $n.test" "http://127.0.0.1:$Port/index.html") -join ''
            if ($body -ne "site of $n") { "$n -> '$body'" }
        }
        @($bad)
    }
}

AfterAll {
    if ($Server -and (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue)) {
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 60 -ErrorAction SilentlyContinue
    }
    Remove-TestUser $Names
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe "Many tenants with live workers" {
    It 'serves every tenant its own site, each from a worker of its own user' {
        Test-AllServed | Should -BeNullOrEmpty
        $status = Get-ItkServer -ControlSocket $Sock
        $status.Pools.Count | Should -Be $Tenants
        ($status.Pools.User | Sort-Object) | Should -Be $Names
        foreach ($p in $status.Pools) {
            $p.Workers | Should -Be 1
            (& stat -c '%U' "/proc/$($p.WorkerPids[0])") | Should -Be $p.User
            # the shared worker image (Privileged/WorkerImage.cs), not a private copy of itkd's type data in each
            (& readlink "/proc/$($p.WorkerPids[0])/exe") | Should -BeLike '*/itkd-worker'
        }
        # Memory per live worker once idle (a worker trims its working set after 2 s without a connection).
        Start-Sleep -Seconds 3
        $kb = { param($processId, $file, $field) [int]((Get-Content "/proc/$processId/$file" | Select-String "^$($field):") -replace '\D', '') }
        $rss = foreach ($p in $status.Pools) { & $kb $p.WorkerPids[0] 'status' 'VmRSS' }
        $pss = foreach ($p in $status.Pools) { & $kb $p.WorkerPids[0] 'smaps_rollup' 'Pss' }
        Write-Host ("    {0} live idle workers: RSS mean {1:n1} MB (max {2:n1}), PSS mean {3:n1} MB (max {4:n1})" -f $rss.Count,
            (($rss | Measure-Object -Average).Average / 1024), (($rss | Measure-Object -Maximum).Maximum / 1024),
            (($pss | Measure-Object -Average).Average / 1024), (($pss | Measure-Object -Maximum).Maximum / 1024))
    }

    It 'answers status for every pool in one reply, many times over the old 512-byte limit' {
        $json = [Text.Encoding]::UTF8.GetByteCount((ConvertTo-Json -Depth 5 (Get-ItkServer -ControlSocket $Sock)))
        $json | Should -BeGreaterThan (20 * 512)
        (Get-ItkServer -ControlSocket $Sock).Pools.Count | Should -Be $Tenants
    }

    It 'reloads: a new generation serves every tenant, the old workers drain and exit' {
        $before = Get-ItkServer -ControlSocket $Sock
        $old = $before.Pools.WorkerPids
        (Restart-ItkServer -ControlSocket $Sock -PassThru).Generation | Should -Be ($before.Generation + 1)
        Test-AllServed | Should -BeNullOrEmpty
        Wait-Until { -not ($old | Where-Object { Test-Path "/proc/$_" }) } -TimeoutSeconds 60 -What 'the old generation''s workers to exit'
        (Get-ItkServer -ControlSocket $Sock).Pools | ForEach-Object { $_.Crashes | Should -Be 0 }
    }

    It 'stops: every process of the server ends' {
        $all = @($Server.Pid) + (Get-ItkServer -ControlSocket $Sock).Pools.WorkerPids + (Get-ItkServer -ControlSocket $Sock).DispatcherPid
        Stop-ItkServer -ControlSocket $Sock -Confirm:$false
        Wait-Until { -not ($all | Where-Object { Test-Path "/proc/$_" }) } -TimeoutSeconds 60 -What 'every process to end'
        foreach ($n in $Names) { (& pgrep -u $n) | Should -BeNullOrEmpty }
        Test-Path $Sock | Should -BeFalse
    }
}

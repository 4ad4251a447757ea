-- One rate per calendar day and currency to the base currency (var base_currency):
-- rate_to_base = units of base currency per 1 unit of `currency`, computed from the per-EUR
-- rates of the same publication day. For a day and currency the user's own rates win over
-- the feed: a rate file dropped into the inbox (rate_source inbox; the latest import) first,
-- then the configured rates file (file), then the ECB feed (ecb). Days without a
-- publication (weekends, TARGET holidays) carry the last published rate forward for at most
-- var fx_max_staleness_days days; after that there is no rate, and the lines that need one
-- fail a test instead of being converted at a made-up 1.0.
{% set base = var('base_currency') %}

with published as (
    select rate_date, currency, rate_per_eur, rate_source
    from {{ ref('stg_reference__fx_rates') }}
    qualify row_number() over (
        partition by rate_date, currency
        order by case rate_source when 'inbox' then 0 when 'file' then 1 else 2 end
    ) = 1
),

with_euro as (
    select * from published
    union all by name
    select distinct rate_date, 'EUR' as currency, cast(1 as decimal(18, 6)) as rate_per_eur,
        'definition' as rate_source
    from published
),

to_base as (
    select
        c.rate_date as published_date,
        c.currency,
        cast(b.rate_per_eur / c.rate_per_eur as decimal(18, 10)) as rate_to_base,
        c.rate_source
    from with_euro as c
    inner join with_euro as b
        on c.rate_date = b.rate_date
        and b.currency = '{{ base }}'
),

calendar as (
    select cast(day as date) as rate_date
    from range(
        (select min(published_date) from to_base),
        greatest((select max(published_date) from to_base), {{ fx_calendar_end() }}) + interval 1 day,
        interval 1 day
    ) as t(day)
),

currencies as (
    select distinct currency from to_base
),

grid as (
    select calendar.rate_date, currencies.currency from calendar cross join currencies
)

select
    grid.rate_date,
    grid.currency,
    '{{ base }}' as base_currency,
    to_base.rate_to_base,
    to_base.published_date,
    to_base.published_date < grid.rate_date as is_carried_forward,
    to_base.rate_source
from grid
asof inner join to_base
    on grid.currency = to_base.currency
    and grid.rate_date >= to_base.published_date
where grid.rate_date - to_base.published_date <= {{ var('fx_max_staleness_days') | int }}

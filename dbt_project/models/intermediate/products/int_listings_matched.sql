-- Which product each channel listing belongs to, how that was decided, and how sure it is.
-- Rules, first match wins:
--   manual            a SKU mapping names the product                          confidence 1.00
--   gtin              the listing's GTIN/UPC/EAN is a product's GTIN           confidence 0.99
--   exact_sku         same seller SKU as a listing of a GTIN-identified product 0.95
--   asin              same ASIN as an Amazon listing of a product (other marketplace, or an
--                     Amazon all-orders flat file)                             confidence 0.90
--   title_similarity  Jaro-Winkler similarity of titles >= 0.90 with one product's listing,
--                     clearly better than the runner-up       confidence = 0.85 x similarity
--   own_sku           nothing above matched and no identifier is ambiguous: the listing is a
--                     product of its own, under its seller SKU (a seller's own catalog: a file
--                     channel, a one-channel deployment, listings without GTIN); listings of
--                     several channels with that SKU are the same product. Titles near-equal to
--                     two products (colour variants of one family) do not stop it: a title is
--                     weaker evidence than the listing's own SKU             confidence 0.50
-- SKU mappings come from the inbox's sku_mappings/ files (stg_files__sku_mappings) and
-- seeds/product_overrides.csv; a mapping applies to a listing with its channel, connection
-- (an empty one in a file: any) and SKU. When several apply: a file's over the seed's, then
-- the latest import, then the more specific (connection given, then channel given).
-- A product is a GTIN; its product_sku is the SKU most of its listings use (ties: shortest,
-- then alphabetical). Ambiguous listings keep product_sku NULL (match_method ambiguous: their
-- SKU or ASIN belongs to several products), as do
-- listings without a SKU (unmatched), and a test fails if one of them was sold: add a row to
-- seeds/product_overrides.csv or a sku_mappings/ file.
with listings as (
    select * from {{ ref('int_listings_unioned') }}
),

mappings as (
    select channel, connection_name, upper(trim(listing_sku)) as sku_normalized,
        upper(trim(product_sku)) as product_sku,
        1 as source_rank, cast(null as timestamptz) as imported_at, 0 as source_row
    from {{ ref('product_overrides') }}
    union all by name
    select channel, connection_name, sku_normalized, product_sku,
        0 as source_rank, extracted_at as imported_at, source_row
    from {{ ref('stg_files__sku_mappings') }}
),

overrides as (
    select listings.listing_id, mappings.product_sku
    from listings
    inner join mappings
        on listings.sku_normalized = mappings.sku_normalized
        and (mappings.channel is null or listings.channel = mappings.channel)
        and (mappings.connection_name is null or listings.connection_name = mappings.connection_name)
    qualify row_number() over (
        partition by listings.listing_id
        order by mappings.source_rank, mappings.imported_at desc nulls last,
            mappings.connection_name is null, mappings.channel is null, mappings.source_row desc
    ) = 1
),

gtin_skus as (
    select gtin14, sku_normalized, count(*) as listings
    from listings
    where gtin14 is not null and sku_normalized is not null
    group by all
),

gtin_products as (
    select gtin14, sku_normalized as product_sku
    from gtin_skus
    qualify row_number() over (
        partition by gtin14 order by listings desc, length(sku_normalized), sku_normalized
    ) = 1
),

anchored as (
    -- listings whose product is known from their GTIN: the reference for the other rules
    select listings.*, gtin_products.product_sku
    from listings
    inner join gtin_products using (gtin14)
),

sku_products as (
    select sku_normalized, min(product_sku) as product_sku, count(distinct product_sku) as products
    from anchored
    group by sku_normalized
),

asin_products as (
    select asin, min(product_sku) as product_sku, count(distinct product_sku) as products
    from anchored
    where asin is not null
    group by asin
),

unanchored as (
    select * from listings where gtin14 is null or gtin14 not in (select gtin14 from gtin_products)
),

title_scores as (
    select
        u.listing_id,
        a.product_sku,
        max(jaro_winkler_similarity(lower(u.title), lower(a.title))) as similarity
    from unanchored as u
    cross join anchored as a
    where u.title is not null and a.title is not null
    group by all
),

title_best as (
    select
        listing_id,
        arg_max(product_sku, similarity) as product_sku,
        max(similarity) as similarity,
        -- the runner-up, to refuse a match between two near-equal candidates
        list_sort(list(similarity), 'DESC')[2] as runner_up
    from title_scores
    group by listing_id
),

methods as (
    select
        listings.*,
        case
            when overrides.product_sku is not null then 'manual'
            when gtin_products.product_sku is not null then 'gtin'
            when sku_products.products = 1 then 'exact_sku'
            when asin_products.products = 1 then 'asin'
            when title_best.similarity >= 0.90
                and coalesce(title_best.runner_up, 0) < title_best.similarity - 0.02
                then 'title_similarity'
            when sku_products.products > 1 or asin_products.products > 1 then 'ambiguous'
            when listings.sku_normalized is not null then 'own_sku'
            else 'unmatched'
        end as match_method,
        case
            when overrides.product_sku is not null then overrides.product_sku
            when gtin_products.product_sku is not null then gtin_products.product_sku
            when sku_products.products = 1 then sku_products.product_sku
            when asin_products.products = 1 then asin_products.product_sku
            else title_best.product_sku
        end as matched_product_sku,
        title_best.similarity as title_similarity
    from listings
    left join overrides on listings.listing_id = overrides.listing_id
    left join gtin_products on listings.gtin14 = gtin_products.gtin14
    left join sku_products on listings.sku_normalized = sku_products.sku_normalized
    left join asin_products on listings.asin = asin_products.asin
    left join title_best on listings.listing_id = title_best.listing_id
),

matched as (
    select
        * exclude (matched_product_sku),
        case
            when match_method = 'own_sku' then sku_normalized
            when match_method not in ('ambiguous', 'unmatched') then matched_product_sku
        end as product_sku
    from methods
)

select
    *,
    cast(case match_method
        when 'manual' then 1.0
        when 'gtin' then 0.99
        when 'exact_sku' then 0.95
        when 'asin' then 0.90
        when 'title_similarity' then round(0.85 * title_similarity, 3)
        when 'own_sku' then 0.50
        else 0.0
    end as decimal(4, 3)) as match_confidence
from matched
